// Package random maps the upstream Terraform random provider (terraform-provider-random,
// a Plugin Framework provider) to Pulumi through pulumi-terraform-bridge, with exactly the
// resource tokens and property names the pulumi_random Python SDK sends, so the program's
// `pulumi_random` resources are served by this provider unchanged.
package random

import (
	"strings"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/terraform-providers/terraform-provider-random/shim"
)

// Version is stamped at link time (-X) with the pulumi_random SDK version this provider
// stands in for; the engine asks for exactly that plugin version.
var Version string

const (
	packageName = "random"
	module      = "index"
	tfPrefix    = "random_"
)

// Resources are the upstream resources the SDK has classes for, by Terraform name.
// Each maps to random:index/random<Name>:Random<Name>, the SDK's tokens; property
// names follow the bridge's default (snake_case to camelCase), as the SDK's do.
var Resources = []string{
	"random_bytes", "random_id", "random_integer", "random_password", "random_pet",
	"random_shuffle", "random_string", "random_uuid", "random_uuid4", "random_uuid7",
}

// ProviderInfo describes the bridged provider. metadata is the bridge's
// bridge-metadata.json (written by tfgen; "{}" while generating it).
func ProviderInfo(metadata []byte) tfbridge.ProviderInfo {
	resources := make(map[string]*tfbridge.ResourceInfo, len(Resources))
	for _, tfName := range Resources {
		resources[tfName] = &tfbridge.ResourceInfo{
			Tok: tfbridge.MakeResource(packageName, module, "Random"+upperCamel(strings.TrimPrefix(tfName, tfPrefix))),
		}
	}
	return tfbridge.ProviderInfo{
		P:            pf.ShimProvider(shim.NewProvider()),
		Name:         packageName,
		Version:      Version,
		Description:  "Random values (passwords, strings, ids) held in Pulumi state.",
		Publisher:    "llm-platform",
		License:      "Apache-2.0",
		Resources:    resources,
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
	}
}

// upperCamel turns "uuid4" into "Uuid4" and "some_name" into "SomeName".
func upperCamel(snake string) string {
	parts := strings.Split(snake, "_")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}
