// Command informer is a client-go consumer of gitplane.io, the way a controller would
// use it: a dynamic shared informer on manifests.gitplane.io/v1alpha1, reached through
// kube-apiserver's aggregation layer with an ordinary kubeconfig.
//
// It prints one JSON object per line on stdout, so a test can follow it:
//
//	{"type":"REQUEST","method":"GET","url":"/apis/gitplane.io/v1alpha1/manifests?...watch=true..."}
//	{"type":"ADDED","namespace":"shop","name":"configmap.a","resourceVersion":"...","initialList":true}
//	{"type":"SYNCED"}
//	{"type":"MODIFIED",...} {"type":"DELETED",...}
//
// REQUEST lines name every request the informer's reflector makes to gitplane.io, which
// shows whether the initial list came from a WatchList (a watch with
// sendInitialEvents=true) or from a LIST, and when it watched again after an error.
// It runs until stdin is closed or it gets SIGTERM/SIGINT.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

var gvr = schema.GroupVersionResource{Group: "gitplane.io", Version: "v1alpha1", Resource: "manifests"}

type line struct {
	Type            string `json:"type"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	InitialList     bool   `json:"initialList,omitempty"`
	Method          string `json:"method,omitempty"`
	URL             string `json:"url,omitempty"`
	Status          int    `json:"status,omitempty"`
	Error           string `json:"error,omitempty"`
}

type printer struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (p *printer) print(l line) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.enc.Encode(l) // stdout gone: nothing left to tell
}

func (p *printer) object(kind string, obj interface{}, initial bool) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		p.print(line{Type: "ERROR", Error: fmt.Sprintf("unexpected object %T", obj)})
		return
	}
	p.print(line{
		Type:            kind,
		Namespace:       u.GetNamespace(),
		Name:            u.GetName(),
		ResourceVersion: u.GetResourceVersion(),
		InitialList:     initial,
	})
}

// requests reports each request for gitplane.io and its answer's status.
type requests struct {
	next http.RoundTripper
	out  *printer
}

func (r requests) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	l := line{Type: "REQUEST", Method: req.Method, URL: req.URL.RequestURI()}
	if err != nil {
		l.Error = err.Error()
	} else {
		l.Status = resp.StatusCode
	}
	r.out.print(l)
	return resp, err
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the user to watch as")
	namespace := flag.String("namespace", "", "namespace to watch (default: all)")
	flag.Parse()

	out := &printer{enc: json.NewEncoder(os.Stdout)}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubeconfig:", err)
		os.Exit(2)
	}
	config.Wrap(func(next http.RoundTripper) http.RoundTripper { return requests{next, out} })
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(2)
	}

	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(client, 0, *namespace, nil)
	informer := factory.ForResource(gvr).Informer()
	_, err = informer.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    func(obj interface{}, initial bool) { out.object("ADDED", obj, initial) },
		UpdateFunc: func(_, obj interface{}) { out.object("MODIFIED", obj, false) },
		DeleteFunc: func(obj interface{}) { out.object("DELETED", obj, false) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "handler:", err)
		os.Exit(2)
	}
	_ = informer.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		out.print(line{Type: "WATCH_ERROR", Error: err.Error()})
	})

	stop := make(chan struct{})
	factory.Start(stop)
	go func() {
		if cache.WaitForCacheSync(stop, informer.HasSynced) {
			out.print(line{Type: "SYNCED"})
		}
	}()

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-signals:
	case <-stdinClosed:
	}
	close(stop)
	done := make(chan struct{})
	go func() { factory.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}
