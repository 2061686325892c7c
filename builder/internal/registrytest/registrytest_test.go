package registrytest

import (
	"net/http"
	"testing"
)

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
}
