// Build module for the pulumi CLI and the Python language host (tools/engine/build.sh).
// build.sh sets the pulumi versions from versions.env, copies upstream's non-local
// replaces, adds the language host as a tool, runs `go mod tidy` and writes the
// resulting go.mod/go.sum back here; commit them.
module llm-platform/tools/engine/cli

go 1.26.6

require (
	github.com/pulumi/pulumi/pkg/v3 v3.272.0
	github.com/pulumi/pulumi/sdk/v3 v3.272.0
)

tool github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
