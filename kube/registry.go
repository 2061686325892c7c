package kube

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/devloop-dev/devloop/kube/localregistry"
)

// LocalRegistry reads the KEP-1755 ConfigMap kube-public/local-registry-hosting
// that kind, k3d, minikube, ctlptl and devloop write. It returns nil (and no
// error) when the cluster has none.
func (c *Client) LocalRegistry(ctx context.Context) (*localregistry.Hosting, error) {
	cm, err := c.cs.CoreV1().ConfigMaps(localregistry.Namespace).Get(ctx, localregistry.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ConfigMap %s/%s in context %q: %w", localregistry.Namespace, localregistry.Name, c.context, err)
	}
	return localregistry.Parse(cm.Data)
}
