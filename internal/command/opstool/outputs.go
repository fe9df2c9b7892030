package opstool

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/asyncjobs/asyncjobs/internal/command/stackoutputs"
)

// Outputs are the stack's outputs, as package stackoutputs describes
// them (the one description of that contract).
type Outputs = stackoutputs.Outputs

// readOutputsFile reads and parses an outputs file.
func readOutputsFile(path string) (*Outputs, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--outputs=%q: %w", path, err)
	}
	return stackoutputs.Parse(path, data)
}

// readStackOutputs runs `pulumi stack output --json --stack NAME`.
func readStackOutputs(ctx context.Context, stack string) (*Outputs, error) {
	bin, err := exec.LookPath("pulumi")
	if err != nil {
		return nil, fmt.Errorf("--stack=%q needs the pulumi CLI on PATH (or use --outputs FILE): %w", stack, err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "stack", "output", "--json", "--stack", stack)
	// Never a plugin the stack's state names: only those installed.
	cmd.Env = append(os.Environ(), "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true")
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			return nil, fmt.Errorf("--stack=%q: pulumi stack output failed: %w: %s", stack, err, msg)
		}
		return nil, fmt.Errorf("--stack=%q: pulumi stack output failed: %w", stack, err)
	}
	return stackoutputs.Parse(fmt.Sprintf("stack %q", stack), stdout.Bytes())
}
