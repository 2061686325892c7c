package builder

import (
	"fmt"
	"strings"

	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/tonistiigi/fsutil"
)

type fsutilFSType = fsutil.FS

func fsutilFS(dir string) (fsutil.FS, error) {
	fs, err := fsutil.NewFS(dir)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	return fs, nil
}

// parseSecret parses a docker_build secret in docker's --secret form:
// "id=NAME[,src=PATH|,env=VAR][,type=file|env]". With neither src nor env,
// the environment variable NAME is read, then a file of that name, as
// `docker buildx build` does.
func parseSecret(spec string) (secretsprovider.Source, error) {
	var s secretsprovider.Source
	typ := ""
	for _, field := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return s, fmt.Errorf("secret %q: field %q is not key=value: write id=NAME,src=PATH or id=NAME,env=VAR", spec, field)
		}
		switch strings.ToLower(k) {
		case "id":
			s.ID = v
		case "src", "source":
			s.FilePath = v
		case "env":
			s.Env = v
		case "type":
			typ = v
		default:
			return s, fmt.Errorf("secret %q: unknown key %q: use id, src, env or type", spec, k)
		}
	}
	if s.ID == "" {
		return s, fmt.Errorf("secret %q has no id: write id=NAME,src=PATH", spec)
	}
	switch typ {
	case "", "file", "env":
	default:
		return s, fmt.Errorf("secret %q: type %q is neither file nor env", spec, typ)
	}
	if typ == "env" && s.Env == "" {
		s.Env, s.FilePath = s.FilePath, ""
		if s.Env == "" {
			s.Env = s.ID
		}
	}
	if s.FilePath == "" && s.Env == "" {
		s.Env, s.FilePath = s.ID, s.ID
	}
	return s, nil
}

func secretsAttachable(specs []string) (session.Attachable, error) {
	var srcs []secretsprovider.Source
	for _, spec := range specs {
		s, err := parseSecret(spec)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, s)
	}
	store, err := secretsprovider.NewStore(srcs)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	return secretsprovider.NewSecretProvider(store), nil
}

// parseSSH parses a docker_build ssh entry: "default", "ID" (the agent at
// $SSH_AUTH_SOCK) or "ID=PATH[,PATH...]" (a socket or private keys).
func parseSSH(spec string) (sshprovider.AgentConfig, error) {
	id, paths, _ := strings.Cut(strings.TrimSpace(spec), "=")
	if id == "" {
		return sshprovider.AgentConfig{}, fmt.Errorf("ssh %q has no id: write default, or ID=PATH", spec)
	}
	c := sshprovider.AgentConfig{ID: id}
	if paths != "" {
		c.Paths = strings.Split(paths, ",")
	}
	return c, nil
}

func sshAttachable(specs []string) (session.Attachable, error) {
	var confs []sshprovider.AgentConfig
	for _, spec := range specs {
		c, err := parseSSH(spec)
		if err != nil {
			return nil, err
		}
		confs = append(confs, c)
	}
	a, err := sshprovider.NewSSHAgentProvider(confs)
	if err != nil {
		return nil, fmt.Errorf("ssh: %w: start an ssh-agent (SSH_AUTH_SOCK) or name key files", err)
	}
	return a, nil
}
