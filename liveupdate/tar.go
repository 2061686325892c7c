package liveupdate

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// prepare checks a plan's copies against the local disk before anything is
// sent: container paths must be absolute, every local path must stay under
// its sync root once symlinked directories are resolved, and a copy whose
// local file no longer exists becomes a delete (it was removed after the
// change was seen).
func prepare(p Plan) (Plan, error) {
	out := Plan{Run: p.Run}
	r := resolver{}
	for _, d := range p.Delete {
		c, err := containerPath(d)
		if err != nil {
			return Plan{}, err
		}
		out.Delete = append(out.Delete, c)
	}
	for _, c := range p.Copy {
		remote, err := containerPath(c.Remote)
		if err != nil {
			return Plan{}, err
		}
		c.Remote = remote
		if _, err := os.Lstat(c.Local); errors.Is(err, fs.ErrNotExist) {
			out.Delete = append(out.Delete, remote)
			continue
		} else if err != nil {
			return Plan{}, fmt.Errorf("reading %s: %w", c.Local, err)
		}
		if err := r.inRoot(c.Local, c.Root); err != nil {
			return Plan{}, err
		}
		out.Copy = append(out.Copy, c)
	}
	return out, nil
}

// containerPath cleans an absolute container path; "/" itself is refused
// (rm -rf / or a tar over the whole root is never what a sync means).
func containerPath(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", &FallBackError{Reason: fmt.Sprintf("container path %q is not absolute: give sync() an absolute remote path", p)}
	}
	c := path.Clean(p)
	if c == "/" {
		return "", &FallBackError{Reason: "refusing to write or delete the container's root directory: sync() to a directory below /"}
	}
	return c, nil
}

// inRoot refuses a local path that leaves root through a symlinked parent
// directory. The path itself may be a symlink: it is sent as a symlink and
// never followed, so no file outside root is read (as Tilt and docker build
// contexts do).
func (r resolver) inRoot(local, root string) error {
	if !under(local, root) {
		return &FallBackError{Reason: fmt.Sprintf("%s is outside its sync root %s", local, root)}
	}
	realRoot, err := r.eval(root)
	if err != nil {
		return fmt.Errorf("resolving sync root %s: %w", root, err)
	}
	if filepath.Clean(local) == filepath.Clean(root) {
		return nil
	}
	parent, err := r.eval(filepath.Dir(local))
	if err != nil {
		return fmt.Errorf("resolving %s: %w", filepath.Dir(local), err)
	}
	if !under(parent, realRoot) {
		return &FallBackError{Reason: fmt.Sprintf("%s leaves its sync root %s through a symlinked directory (it resolves to %s): not sent", local, root, parent)}
	}
	return nil
}

// resolver caches filepath.EvalSymlinks for one plan: its files share a few
// roots and parent directories.
type resolver map[string]string

func (r resolver) eval(p string) (string, error) {
	if real, ok := r[p]; ok {
		return real, nil
	}
	real, err := filepath.EvalSymlinks(p)
	if err == nil {
		r[p] = real
	}
	return real, err
}

// writeTar writes copies as one tar stream whose entry names are the
// container paths without their leading slash (extract with tar -C /).
// Directories are sent with everything below them; symlinks are sent as
// symlinks, never followed. Owners are zeroed (the container's user owns what
// it extracts) and modification times kept.
func writeTar(w io.Writer, copies []Copy) error {
	tw := tar.NewWriter(w)
	for _, c := range copies {
		err := filepath.WalkDir(c.Local, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("reading %s: %w", p, err)
			}
			rel, err := filepath.Rel(c.Local, p)
			if err != nil {
				return err
			}
			name := path.Join(c.Remote, filepath.ToSlash(rel))
			return addEntry(tw, p, name)
		})
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

func addEntry(tw *tar.Writer, local, remote string) error {
	fi, err := os.Lstat(local)
	if err != nil {
		return fmt.Errorf("reading %s: %w", local, err)
	}
	var link string
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(local); err != nil {
			return fmt.Errorf("reading symlink %s: %w", local, err)
		}
	} else if !fi.Mode().IsRegular() && !fi.IsDir() {
		return nil // sockets, fifos and devices are not source files
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("archiving %s: %w", local, err)
	}
	hdr.Name = strings.TrimPrefix(remote, "/")
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	// Format unset: USTAR where it fits (busybox tar reads it), the
	// modification time rounded to the second; access and change times are
	// not sent.
	hdr.Format = tar.FormatUnknown
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archiving %s: %w", local, err)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(local)
	if err != nil {
		return fmt.Errorf("reading %s: %w", local, err)
	}
	defer f.Close()
	// A file that grows while it is read would overflow its header's size;
	// send the size that was stat'ed, the next change sends the rest.
	if _, err := io.Copy(tw, io.LimitReader(f, fi.Size())); err != nil {
		return fmt.Errorf("archiving %s: %w", local, err)
	}
	return nil
}
