// Command etcd starts a single-node etcd server for tests through etcd's
// embed package, prints "ready <client URL>" on stdout once it serves, and
// stops cleanly on SIGINT or SIGTERM.
//
//	etcd -dir /tmp/etcd-data -client http://127.0.0.1:23790 -peer http://127.0.0.1:23800
package main

import (
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	dir := flag.String("dir", "", "data directory (required; created if missing)")
	client := flag.String("client", "http://127.0.0.1:2379", "client URL to listen on and advertise")
	peer := flag.String("peer", "http://127.0.0.1:2380", "peer URL to listen on and advertise")
	flag.Parse()
	if *dir == "" {
		log.Fatal("etcd: -dir is required")
	}
	cu, err := url.Parse(*client)
	if err != nil {
		log.Fatalf("etcd: -client: %v", err)
	}
	pu, err := url.Parse(*peer)
	if err != nil {
		log.Fatalf("etcd: -peer: %v", err)
	}
	cfg := embed.NewConfig()
	cfg.Dir = *dir
	cfg.Name = "switchyard-test"
	cfg.LogLevel = "error"
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		log.Fatalf("etcd: %v", err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
		fmt.Println("ready", cu.String())
	case <-time.After(time.Minute):
		e.Server.Stop()
		log.Fatal("etcd: not ready within a minute")
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-stop:
	case err := <-e.Err():
		log.Printf("etcd: %v", err)
	}
}
