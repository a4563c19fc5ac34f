// Command etcd is the etcd server at the version k8s.io/kubernetes itself pins,
// so the API server talks to the storage it is tested against upstream.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
