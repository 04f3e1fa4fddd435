// Package shim exposes terraform-provider-random's (internal) provider to the
// pulumi-random bridge. pulumi-random keeps this as a nested module
// (provider/shim) that its module zip does not contain, so build.sh puts this
// copy in its place. It must live at the module path below for the internal
// import to be legal.
package shim

import (
	tfpf "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// NewProvider returns the upstream random provider.
func NewProvider() tfpf.Provider {
	return provider.New()
}
