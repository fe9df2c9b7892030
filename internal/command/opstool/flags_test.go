package opstool

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
)

func TestKeyValues(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    string
		wantErr string
	}{
		{name: "pairs in order", in: []string{"b=2", "a=1"}, want: "b=2,a=1"},
		{name: "value with equals", in: []string{"k=a=b"}, want: "k=a=b"},
		{name: "empty value", in: []string{"k="}, want: "k="},
		{name: "no separator", in: []string{"k"}, wantErr: `"k": want key=value`},
		{name: "empty key", in: []string{"=v"}, wantErr: "empty key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var kv KeyValues
			var err error
			for _, s := range tt.in {
				if err = kv.Set(s); err != nil {
					break
				}
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || kv.String() != tt.want {
				t.Errorf("got %q, %v; want %q", kv.String(), err, tt.want)
			}
		})
	}
}

func TestCommonValidate(t *testing.T) {
	tests := []struct {
		name string
		c    Common
		want []string
	}{
		{name: "nothing set", c: Common{}},
		{name: "loopback IPv4", c: Common{Endpoint: "127.0.0.1:8085"}},
		{name: "loopback IPv6", c: Common{Endpoint: "[::1]:8085"}},
		{name: "localhost", c: Common{Endpoint: "localhost:8085"}},
		{name: "remote endpoint", c: Common{Endpoint: "pubsub.googleapis.com:443"}, want: []string{"--endpoint", "loopback"}},
		{name: "endpoint without port", c: Common{Endpoint: "127.0.0.1"}, want: []string{"--endpoint", "host:port"}},
		{name: "both sources", c: Common{OutputsFile: "o.json", Stack: "dev"}, want: []string{"--outputs", "--stack", "only one"}},
		{name: "bad impersonation target", c: Common{Impersonate: "me@example.com"}, want: []string{"--impersonate-service-account", "me@example.com"}},
		{name: "endpoint with impersonation", c: Common{Endpoint: "127.0.0.1:1", Impersonate: "sa@p.iam.gserviceaccount.com"},
			want: []string{"takes no credentials"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := errors.Join(tt.c.Validate()...)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want %q in it", err, w)
				}
			}
		})
	}
}

func TestClientOptions(t *testing.T) {
	c := Common{Endpoint: "127.0.0.1:1"}
	opts, err := c.ClientOptions(context.Background())
	if err != nil || len(opts) != 4 {
		t.Fatalf("endpoint options = %d, %v; want 4 options", len(opts), err)
	}
	opts, err = (&Common{}).ClientOptions(context.Background())
	if err != nil || len(opts) != 0 {
		t.Fatalf("default options = %v, %v; want none (application default credentials)", opts, err)
	}
}

func TestPrintUsageHidesTestHooks(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var c Common
	c.Register(fs)
	var buf bytes.Buffer
	(&cli.Command{Name: "x", UsageLine: "x [flags]", Hidden: HiddenFlags}).PrintUsage(&buf, fs)
	out := buf.String()
	for _, want := range []string{"usage: x [flags]", "--outputs file", "--stack stack", "--impersonate-service-account email"} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "endpoint") {
		t.Errorf("usage shows the hidden endpoint flag:\n%s", out)
	}
}
