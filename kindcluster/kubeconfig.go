package kindcluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// mergeKubeconfig adds the cluster, user and context named name from the
// kubeconfig document kc to the kubeconfig file path (creating it when
// missing), replacing older entries of that name, and with current makes it
// the current-context. Every other entry is left as it is.
func mergeKubeconfig(path, kc, name string, current bool) error {
	src, err := clientcmd.Load([]byte(kc))
	if err != nil {
		return fmt.Errorf("parsing kind's kubeconfig for %s: %w", name, err)
	}
	kctx, ok := src.Contexts[name]
	if !ok {
		return fmt.Errorf("kind's kubeconfig has no context %s", name)
	}
	unlock, err := lockFile(path)
	if err != nil {
		return err
	}
	defer unlock()
	dst, err := clientcmd.LoadFromFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		dst, err = clientcmdapi.NewConfig(), nil
	}
	if err != nil {
		return fmt.Errorf("reading kubeconfig %s: %w", path, err)
	}
	dst.Clusters[kctx.Cluster] = src.Clusters[kctx.Cluster]
	dst.AuthInfos[kctx.AuthInfo] = src.AuthInfos[kctx.AuthInfo]
	dst.Contexts[name] = kctx
	if current {
		dst.CurrentContext = name
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	if err := clientcmd.WriteToFile(*dst, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// lockWait bounds how long mergeKubeconfig waits for another writer (kind
// and kubectl take the same "<path>.lock"); they hold it for milliseconds.
const lockWait = 10 * time.Second

// lockPoll is how often lockFile tries again: a few times per typical hold.
const lockPoll = 50 * time.Millisecond

// lockFile takes the lock file kind and kubectl use for path.
func lockFile(path string) (func(), error) {
	lock := path + ".lock"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("locking kubeconfig %s: %w", path, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), lockWait)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, lockPoll, true, func(context.Context) (bool, error) {
		f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return false, nil
		}
		return true, f.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s is locked by another program: if none runs, remove %s", path, lock)
	}
	return func() { _ = os.Remove(lock) }, nil
}
