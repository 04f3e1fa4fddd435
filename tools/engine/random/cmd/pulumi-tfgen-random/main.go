// pulumi-tfgen-random writes the bridged provider's Pulumi package schema and bridge
// metadata (`pulumi-tfgen-random schema --out DIR --skip-examples`), which
// pulumi-resource-random embeds. RANDOM_UPSTREAM_DIR is the upstream module's directory
// in the Go module cache; its docs/ give the schema's descriptions.
package main

import (
	"os"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	random "llm-platform/tools/engine/random"
)

func main() {
	info := random.ProviderInfo([]byte("{}"))
	info.UpstreamRepoPath = os.Getenv("RANDOM_UPSTREAM_DIR")
	tfgen.Main("random", info)
}
