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
//	{"type":"LOG","message":"I1204 ... reflector.go:...] \"Warning: watch ended with error\" ..."}
//
// REQUEST lines name every request the informer's reflector makes to gitplane.io, which
// shows whether the initial list came from a WatchList (a watch with
// sendInitialEvents=true) or from a LIST, and when it watched again after an error.
// LOG lines are client-go's own log (klog's, on stderr), as a controller would print it.
// Objects carry their labels, finalizers, annotations (but the last-applied
// configuration) and whether they are being deleted.
//
// It reads commands on stdin, one a line:
//
//	rewatch   end the open watch streams, as a proxy or the watch's timeout would: the
//	          reflector watches again from the last resourceVersion it saw
//	future    the same, and the next watch resumed from a resourceVersion asks for one
//	          gitplane has not reached (that version followed by a 0), as a client that
//	          saw a newer replica would
//
// With --watch it makes one plain client-go watch instead (no informer), with the
// options given, and prints every event as it comes (BOOKMARK and ERROR included),
// then CLOSED when the server ends it.
//
// It runs until stdin is closed or it gets SIGTERM/SIGINT.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

var gvr = schema.GroupVersionResource{Group: "gitplane.io", Version: "v1alpha1", Resource: "manifests"}

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

type line struct {
	Type             string            `json:"type"`
	Namespace        string            `json:"namespace,omitempty"`
	Name             string            `json:"name,omitempty"`
	ResourceVersion  string            `json:"resourceVersion,omitempty"`
	InitialList      bool              `json:"initialList,omitempty"`
	InitialEventsEnd bool              `json:"initialEventsEnd,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	Annotations      map[string]string `json:"annotations,omitempty"`
	Finalizers       []string          `json:"finalizers,omitempty"`
	Deleting         bool              `json:"deleting,omitempty"`
	Method           string            `json:"method,omitempty"`
	URL              string            `json:"url,omitempty"`
	Status           int               `json:"status,omitempty"`
	Code             int32             `json:"code,omitempty"`
	Reason           string            `json:"reason,omitempty"`
	Message          string            `json:"message,omitempty"`
	Error            string            `json:"error,omitempty"`
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

// logs makes what client-go logs (klog writes to os.Stderr) LOG lines; the runtime's own
// messages (a panic) still reach file descriptor 2.
func (p *printer) logs() {
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipe:", err)
		os.Exit(2)
	}
	os.Stderr = w
	go func() {
		lines := bufio.NewScanner(r)
		lines.Buffer(make([]byte, 0, 64*1024), 1024*1024)
		for lines.Scan() {
			p.print(line{Type: "LOG", Message: lines.Text()})
		}
	}()
}

func described(kind string, u *unstructured.Unstructured) line {
	annotations := u.GetAnnotations()
	delete(annotations, lastApplied)
	return line{
		Type:             kind,
		Namespace:        u.GetNamespace(),
		Name:             u.GetName(),
		ResourceVersion:  u.GetResourceVersion(),
		InitialEventsEnd: kind == string(watch.Bookmark) && annotations[metav1.InitialEventsAnnotationKey] == "true",
		Labels:           u.GetLabels(),
		Annotations:      annotations,
		Finalizers:       u.GetFinalizers(),
		Deleting:         u.GetDeletionTimestamp() != nil,
	}
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
	l := described(kind, u)
	l.InitialList = initial
	p.print(l)
}

// requests reports each request for gitplane.io and its answer's status, and carries out
// the stdin commands on watch streams.
type requests struct {
	next     http.RoundTripper
	out      *printer
	controls *controls
}

func (r requests) RoundTrip(req *http.Request) (*http.Response, error) {
	req = r.controls.rewrite(req)
	resp, err := r.next.RoundTrip(req)
	l := line{Type: "REQUEST", Method: req.Method, URL: req.URL.RequestURI()}
	if err != nil {
		l.Error = err.Error()
	} else {
		l.Status = resp.StatusCode
		if req.URL.Query().Get("watch") == "true" {
			resp.Body = r.controls.track(resp.Body)
		}
	}
	r.out.print(l)
	return resp, err
}

// controls holds the open watch streams and what the next resumed watch asks for.
type controls struct {
	mu     sync.Mutex
	open   map[*stream]struct{}
	future bool
}

func (c *controls) track(body io.ReadCloser) io.ReadCloser {
	s := &stream{body: body, owner: c}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open[s] = struct{}{}
	return s
}

// rewrite makes the next resumed watch (a watch from a resourceVersion, not a WatchList)
// ask for a version gitplane has not reached, once `future` was asked for.
func (c *controls) rewrite(req *http.Request) *http.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	query := req.URL.Query()
	rv := query.Get("resourceVersion")
	resumed := query.Get("watch") == "true" && query.Get("sendInitialEvents") != "true" && rv != "" && rv != "0"
	if !c.future || !resumed {
		return req
	}
	c.future = false
	query.Set("resourceVersion", rv+"0")
	changed := req.Clone(req.Context())
	changed.URL.RawQuery = query.Encode()
	return changed
}

// cut ends every open watch stream: the reader sees the end of the stream, as when a
// proxy or the server's timeout closes it.
func (c *controls) cut(future bool) {
	c.mu.Lock()
	c.future = c.future || future
	streams := make([]*stream, 0, len(c.open))
	for s := range c.open {
		streams = append(streams, s)
	}
	c.mu.Unlock()
	for _, s := range streams {
		s.cut()
	}
}

type stream struct {
	body  io.ReadCloser
	owner *controls
	mu    sync.Mutex
	ended bool
}

func (s *stream) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return 0, io.EOF
	}
	return n, err
}

func (s *stream) cut() {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	_ = s.body.Close() // unblocks a Read in progress, which then reports the end
}

func (s *stream) Close() error {
	s.owner.mu.Lock()
	delete(s.owner.open, s)
	s.owner.mu.Unlock()
	return s.body.Close()
}

type options struct {
	kubeconfig, namespace, labelSelector, resourceVersion string
	watch, allowBookmarks, sendInitialEvents              bool
}

func main() {
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the user to watch as")
	flag.StringVar(&o.namespace, "namespace", "", "namespace to watch (default: all)")
	flag.StringVar(&o.labelSelector, "label-selector", "", "label selector of the list and watch")
	flag.BoolVar(&o.watch, "watch", false, "one plain watch instead of an informer")
	flag.StringVar(&o.resourceVersion, "resource-version", "", "--watch: the resourceVersion to watch from")
	flag.BoolVar(&o.allowBookmarks, "allow-bookmarks", false, "--watch: allowWatchBookmarks=true")
	flag.BoolVar(&o.sendInitialEvents, "send-initial-events", false,
		"--watch: sendInitialEvents=true, resourceVersionMatch=NotOlderThan")
	flag.Parse()

	out := &printer{enc: json.NewEncoder(os.Stdout)}
	out.logs()
	controls := &controls{open: map[*stream]struct{}{}}
	config, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubeconfig:", err)
		os.Exit(2)
	}
	config.Wrap(func(next http.RoundTripper) http.RoundTripper { return requests{next, out, controls} })
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(2)
	}

	stop := make(chan struct{})
	var finished func()
	if o.watch {
		finished = plainWatch(client, o, out, stop)
	} else {
		finished = informer(client, o, out, stop)
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	stdinClosed := make(chan struct{})
	go func() {
		commands := bufio.NewScanner(os.Stdin)
		for commands.Scan() {
			switch command := strings.TrimSpace(commands.Text()); command {
			case "rewatch", "future":
				controls.cut(command == "future")
			case "":
			default:
				out.print(line{Type: "ERROR", Error: "unknown command " + command})
			}
		}
		close(stdinClosed)
	}()
	select {
	case <-signals:
	case <-stdinClosed:
	}
	close(stop)
	done := make(chan struct{})
	go func() { finished(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

func informer(client dynamic.Interface, o options, out *printer, stop chan struct{}) func() {
	tweak := func(options *metav1.ListOptions) { options.LabelSelector = o.labelSelector }
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(client, 0, o.namespace, tweak)
	informer := factory.ForResource(gvr).Informer()
	_, err := informer.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
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
	factory.Start(stop)
	go func() {
		if cache.WaitForCacheSync(stop, informer.HasSynced) {
			out.print(line{Type: "SYNCED"})
		}
	}()
	return factory.Shutdown
}

func plainWatch(client dynamic.Interface, o options, out *printer, stop chan struct{}) func() {
	options := metav1.ListOptions{
		LabelSelector:       o.labelSelector,
		ResourceVersion:     o.resourceVersion,
		AllowWatchBookmarks: o.allowBookmarks,
	}
	if o.sendInitialEvents {
		send := true
		options.SendInitialEvents = &send
		options.ResourceVersionMatch = metav1.ResourceVersionMatchNotOlderThan
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w, err := client.Resource(gvr).Namespace(o.namespace).Watch(ctx, options)
		if err != nil {
			failed := line{Type: "WATCH_FAILED", Error: err.Error()}
			var status apierrors.APIStatus
			if errors.As(err, &status) {
				failed.Code, failed.Reason = status.Status().Code, string(status.Status().Reason)
			}
			out.print(failed)
			return
		}
		go func() { <-stop; w.Stop() }() // stopped by us: no error event for it, unlike a cancel
		for event := range w.ResultChan() {
			select {
			case <-stop: // what stopping it made (an error reading the closed stream)
			default:
				out.print(watchEvent(event))
			}
		}
		out.print(line{Type: "CLOSED"})
	}()
	return func() {
		select {
		case <-done:
		case <-time.After(time.Second): // still waiting for the watch to be answered
			cancel()
			<-done
		}
		cancel()
	}
}

func watchEvent(event watch.Event) line {
	switch obj := event.Object.(type) {
	case *metav1.Status:
		return line{Type: string(event.Type), Code: obj.Code, Reason: string(obj.Reason), Message: obj.Message}
	case *unstructured.Unstructured:
		if event.Type != watch.Error {
			return described(string(event.Type), obj)
		}
		code, _, _ := unstructured.NestedInt64(obj.Object, "code")
		reason, _, _ := unstructured.NestedString(obj.Object, "reason")
		message, _, _ := unstructured.NestedString(obj.Object, "message")
		return line{Type: string(event.Type), Code: int32(code), Reason: reason, Message: message}
	default:
		return line{Type: string(event.Type), Error: fmt.Sprintf("unexpected object %T", obj)}
	}
}
