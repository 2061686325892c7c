package devfile

import (
	"maps"
	"slices"
	"testing"
)

func TestDockerfileImages(t *testing.T) {
	tests := []struct {
		name       string
		dockerfile string
		args       map[string]string
		want       []DockerfileImage
	}{
		{
			name:       "stages and scratch",
			dockerfile: "FROM golang AS build\nRUN make\nFROM scratch\nCOPY --from=build /app /app\n",
			want:       []DockerfileImage{{"golang", 1}},
		},
		{
			name:       "copy from an image and a stage index",
			dockerfile: "FROM base\nFROM scratch\nCOPY --from=0 /a /a\nCOPY --from=tools:1.2 /bin/t /t\n",
			want:       []DockerfileImage{{"base", 1}, {"tools:1.2", 4}},
		},
		{
			name:       "arg defaults and build args",
			dockerfile: "ARG BASE=alpine\nARG VER\nFROM ${BASE}:$VER\n",
			args:       map[string]string{"VER": "3.20"},
			want:       []DockerfileImage{{"alpine:3.20", 3}},
		},
		{
			name:       "build arg overrides default",
			dockerfile: "ARG BASE=alpine\nFROM $BASE\n",
			args:       map[string]string{"BASE": "my-base"},
			want:       []DockerfileImage{{"my-base", 2}},
		},
		{
			name:       "run mount from",
			dockerfile: "FROM scratch AS s\nFROM busybox\nRUN --mount=type=bind,from=cache-img,target=/c ls /c\n",
			want:       []DockerfileImage{{"busybox", 2}, {"cache-img", 3}},
		},
		{
			name:       "line continuation keeps the start line",
			dockerfile: "# c\nFROM \\\n  base\n",
			want:       []DockerfileImage{{"base", 2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DockerfileImages([]byte(tt.dockerfile), tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("DockerfileImages(%q) = %v, want %v", tt.dockerfile, got, tt.want)
			}
		})
	}
}

func TestDockerfileBases(t *testing.T) {
	images := []Image{
		{Ref: "base"},
		{Ref: "registry.example/team/tools:v1"},
		{Ref: "nginx"},
	}
	tests := []struct {
		name       string
		ref        string
		dockerfile string
		args       map[string]string
		want       map[string][]string
	}{
		{
			name:       "normalised names and any tag",
			dockerfile: "FROM docker.io/library/base:1\nCOPY --from=registry.example/team/tools:v2 /t /t\n",
			want:       map[string][]string{"base": {"docker.io/library/base:1"}, "registry.example/team/tools:v1": {"registry.example/team/tools:v2"}},
		},
		{
			name:       "a build arg naming an image",
			dockerfile: "FROM alpine\n",
			args:       map[string]string{"BASE": "base:dev"},
			want:       map[string][]string{"base": {"base:dev"}},
		},
		{
			name:       "an image FROM its own repository is not its own base",
			ref:        "nginx",
			dockerfile: "FROM nginx:1.27\n",
			want:       map[string][]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := tt.ref
			if ref == "" {
				ref = "app"
			}
			img := Image{Ref: ref, DockerfileContents: tt.dockerfile, BuildArgs: tt.args}
			got, err := DockerfileBases(img, images)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("DockerfileBases(%q) = %v, want %v", tt.dockerfile, got, tt.want)
			}
		})
	}
}
