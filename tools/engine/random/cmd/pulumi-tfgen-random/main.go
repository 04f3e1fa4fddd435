// pulumi-tfgen-random writes the bridged provider's Pulumi package schema and bridge
// metadata (`pulumi-tfgen-random schema --out DIR --skip-examples`), which
// pulumi-resource-random embeds.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	random "llm-platform/tools/engine/random"
)

func main() {
	tfgen.Main("random", random.ProviderInfo([]byte("{}")))
}
