// Command coredns is upstream CoreDNS from its published Go module with only the plugins the
// local node's cluster DNS uses (kubernetes, cache, health, ready, errors, bind), so it builds
// in a fraction of the time of the full plugin set.
package main

import (
	_ "github.com/coredns/coredns/core/dnsserver" // the DNS server type
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
