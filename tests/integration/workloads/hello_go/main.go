// hello_go: a Go program for test_sandbox (a Go binary in a minimal root,
// under the seccomp allow-list). Built static (CGO_ENABLED=0). It makes the
// runtime do what Go programs do: threads (GOMAXPROCS goroutines), timers,
// the network poller (a pipe), then prints one line and exits 0.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

func main() {
	var wg sync.WaitGroup
	sum := make([]int, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			time.Sleep(time.Millisecond)
			sum[k] = k * k
		}(i)
	}
	wg.Wait()
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipe:", err)
		os.Exit(1)
	}
	go func() { w.Write([]byte("x")); w.Close() }()
	b := make([]byte, 1)
	if _, err := r.Read(b); err != nil {
		fmt.Fprintln(os.Stderr, "read:", err)
		os.Exit(1)
	}
	fmt.Printf("hello from pid %d, go %s, %d threads ok, sum %d\n", os.Getpid(),
		runtime.Version(), len(sum), sum[0]+sum[1]+sum[2]+sum[3])
}
