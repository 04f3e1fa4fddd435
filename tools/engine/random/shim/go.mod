module github.com/terraform-providers/terraform-provider-random/shim

go 1.24

// build.sh adds: require github.com/terraform-providers/terraform-provider-random <RANDOM_UPSTREAM_MODULE_VERSION>
// and runs `go mod tidy`.
