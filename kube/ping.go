package kube

import (
	"context"
	"fmt"
	"strings"
)

// Ping asks the API server whether it is ready (GET /readyz): nil when it
// answers so, else why not, naming the context and the server.
func (c *Client) Ping(ctx context.Context) error {
	body, err := c.cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err == nil {
		return nil
	}
	// A starting API server answers with its failing checks, one per
	// "[-]name failed" line among dozens of "[+]" ones: name those.
	// The body, or the error quoting it with its newlines escaped.
	text := string(body)
	if text == "" {
		text = strings.ReplaceAll(err.Error(), `\n`, "\n")
	}
	var failed []string
	for line := range strings.Lines(text) {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "[-]"); ok {
			name, _, _ = strings.Cut(name, " ")
			failed = append(failed, name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("the API server of kube context %s (%s) is not ready: %s failing", c.context, c.rest.Host, strings.Join(failed, ", "))
	}
	return fmt.Errorf("the API server of kube context %s (%s) does not answer: %w", c.context, c.rest.Host, err)
}
