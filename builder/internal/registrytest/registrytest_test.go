package registrytest

import (
	"net/http"
	"strings"
	"testing"
)

func put(t *testing.T, r *Registry, repo, tag, index string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, "http://"+r.Host+"/v2/"+repo+"/manifests/"+tag, strings.NewReader(index))
	req.Header.Set("Content-Type", "application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT %s:%s = %s, want 201", repo, tag, resp.Status)
	}
}

func TestStart(t *testing.T) {
	r := Start(t)
	resp, err := http.Get("http://" + r.Host + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v2/ = %d, want 200", resp.StatusCode)
	}
	if r.Has(t, "nothing", "latest") {
		t.Errorf("Has(nothing, latest) = true, want false on an empty registry")
	}
	// A manifest with no blobs behind it is enough to exercise Tag.
	put(t, r, "img", "v1", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	r.Tag(t, "img", "v1", "latest")
	if a, b := r.Manifest(t, "img", "v1"), r.Manifest(t, "img", "latest"); a.Digest != b.Digest || a.Digest == "" {
		t.Errorf("after Tag(img, v1, latest): digests %q and %q, want equal", a.Digest, b.Digest)
	}
}
