package opstool

import (
	"context"
	"strings"
	"testing"
)

func TestLoadOutputs(t *testing.T) {
	tests := []struct {
		name    string
		common  Common
		wantNil bool
		wantErr string
	}{
		{name: "no source", common: Common{}, wantNil: true},
		{name: "file", common: Common{OutputsFile: "testdata/outputs.json"}},
		{name: "missing file", common: Common{OutputsFile: "testdata/none.json"}, wantErr: `--outputs="testdata/none.json"`},
		{name: "stack without pulumi", common: Common{Stack: "dev"}, wantErr: `--stack="dev" needs the pulumi CLI`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PATH", t.TempDir()) // no pulumi
			o, err := tt.common.LoadOutputs(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadOutputs: %v", err)
			}
			if (o == nil) != tt.wantNil {
				t.Fatalf("outputs = %v, want nil: %v", o, tt.wantNil)
			}
			if o != nil && o.Project != "my-project" {
				t.Errorf("project = %q", o.Project)
			}
		})
	}
}
