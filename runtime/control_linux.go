package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The control socket, STATEDIR/NAME/control, is how `containerctl stop`
// reaches a running supervisor: one JSON request, one JSON answer once the
// container has exited. Going through the supervisor, rather than
// signalling a PID from the record, cannot hit a reused PID and lets stop
// learn how the container ended.

type controlRequest struct {
	Op      string        `json:"op"` // stop, restart, profile
	Timeout time.Duration `json:"timeout,omitempty"`
	// Profile is the system profile to record (profile) or to start again
	// from (restart).
	Profile string `json:"profile,omitempty"`
}

type controlReply struct {
	Result *StopResult `json:"result,omitempty"`
	Error  string      `json:"error,omitempty"`
}

type stopRequest struct {
	timeout time.Duration
	// restart, when not empty, is the profile to start again from once
	// the container has halted.
	restart string
	reply   chan<- StopResult
}

type profileRequest struct {
	profile string
	reply   chan<- error
}

type controlServer struct {
	l        net.Listener
	requests chan stopRequest
	profiles chan profileRequest
	done     chan struct{}
	once     sync.Once
	handlers sync.WaitGroup
	active   atomic.Int32   // requests being answered
	serving  sync.WaitGroup // the accepting goroutine
	// result is how the container ended, set before done is closed; nil
	// when its start failed.
	result *StopResult
}

func listenControl(path string) (*controlServer, error) {
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// Root's alone whatever the umask: a container with private users
	// has its record directory searchable (users_linux.go).
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return newControlServer(l), nil
}

func newControlServer(l net.Listener) *controlServer {
	s := &controlServer{l: l, requests: make(chan stopRequest), profiles: make(chan profileRequest), done: make(chan struct{})}
	s.serving.Add(1)
	go s.serve()
	return s
}

func (s *controlServer) serve() {
	defer s.serving.Done()
	for {
		conn, err := s.l.Accept()
		if err != nil {
			return
		}
		s.take(conn)
	}
}

// take answers conn's request, beside whatever else is answered.
func (s *controlServer) take(conn net.Conn) {
	s.handling(func() {
		defer conn.Close()
		if req, ok := readRequest(conn); ok {
			s.answer(conn, req)
		}
	})
}

// handling runs a handler of a connection, counted while it runs.
func (s *controlServer) handling(handler func()) {
	s.handlers.Add(1)
	s.active.Add(1)
	go func() {
		defer s.handlers.Done()
		defer s.active.Add(-1)
		handler()
	}()
}

// answer answers a request that readRequest took.
func (s *controlServer) answer(conn net.Conn, req controlRequest) {
	if req.Op == "profile" {
		s.handleProfile(conn, req.Profile)
		return
	}
	s.answerStop(conn, req)
}

// answerStop passes a stop or restart on to supervise and answers it once
// the container has ended.
func (s *controlServer) answerStop(conn net.Conn, req controlRequest) {
	reply := make(chan StopResult, 1)
	var res StopResult
	select {
	case s.requests <- stopRequest{timeout: req.Timeout, restart: req.Profile, reply: reply}:
		res = <-reply
	case <-s.done:
		// The container ended as the request came: it has stopped.
		if s.result == nil {
			_ = json.NewEncoder(conn).Encode(controlReply{Error: "the container failed to start"})
			return
		}
		res = *s.result
	}
	_ = json.NewEncoder(conn).Encode(controlReply{Result: &res})
}

// readRequest reads conn's request: a stop, a restart or a profile. One it
// cannot take is answered with the error.
func readRequest(conn net.Conn) (controlRequest, bool) {
	var req controlRequest
	if err := json.NewDecoder(conn).Decode(&req); err != nil {
		_ = json.NewEncoder(conn).Encode(controlReply{Error: "bad request: " + err.Error()})
		return req, false
	}
	switch {
	case req.Op == "profile" && req.Profile != "", req.Op == "restart" && req.Profile != "", req.Op == "stop":
		return req, true
	}
	_ = json.NewEncoder(conn).Encode(controlReply{Error: fmt.Sprintf("unknown op %q", req.Op)})
	return req, false
}

// takeFirst answers conn's request as take does, but returns a stop or
// restart that comes within firstWait for supervise to act on before
// anything else: the monitor that passed the connection on has halted the
// guest already, whose init may exit before the request would come round
// (monitor_linux.go). A client that writes nothing by then is answered as
// any other, and keeps nothing waiting.
func (s *controlServer) takeFirst(conn net.Conn) *stopRequest {
	first := make(chan *stopRequest)
	gaveUp := make(chan struct{})
	s.handling(func() {
		defer conn.Close()
		req, ok := readRequest(conn)
		var taken *stopRequest
		reply := make(chan StopResult, 1)
		if ok && req.Op != "profile" {
			taken = &stopRequest{timeout: req.Timeout, restart: req.Profile, reply: reply}
		}
		select {
		case first <- taken:
			if taken != nil {
				res := <-reply
				_ = json.NewEncoder(conn).Encode(controlReply{Result: &res})
				return
			}
		case <-gaveUp:
		}
		if ok {
			s.answer(conn, req)
		}
	})
	select {
	case sr := <-first:
		return sr
	case <-time.After(firstWait):
		close(gaveUp)
		return nil
	}
}

// firstWait is how long a resumed supervisor waits for the request on the
// connection it was exec'd for.
const firstWait = 100 * time.Millisecond

func (s *controlServer) handleProfile(conn net.Conn, profile string) {
	reply := make(chan error, 1)
	var err error
	select {
	case s.profiles <- profileRequest{profile: profile, reply: reply}:
		err = <-reply
	case <-s.done:
		err = ErrNotRunning
	}
	r := controlReply{}
	if err != nil {
		r.Error = err.Error()
	}
	_ = json.NewEncoder(conn).Encode(r)
}

// flush waits, for a bounded time, until every answer has been written, so
// that the supervisor does not exit under a stop that waits for one.
func (s *controlServer) flush(timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

func (s *controlServer) close() { s.closeWith(nil) }

// closeWith stops taking requests; those still coming get res.
func (s *controlServer) closeWith(res *StopResult) {
	if s == nil {
		return
	}
	s.once.Do(func() {
		s.result = res
		close(s.done)
		s.l.Close()
	})
}

// Stop asks the supervisor of the named container to halt it, with timeout
// (the supervisor's own when zero), and waits until the container has
// exited.
func Stop(stateDir, name string, timeout time.Duration) (StopResult, error) {
	// A container still starting has a locked record but no init yet:
	// wait for it rather than lose the stop.
	if err := awaitRunning(filepath.Join(stateDir, name), startWait); err != nil {
		return StopResult{}, fmt.Errorf("%s: %w", name, err)
	}
	reply, err := request(stateDir, name, controlRequest{Op: "stop", Timeout: timeout})
	if err != nil {
		return StopResult{}, fmt.Errorf("%s: %w", name, err)
	}
	return *reply.Result, nil
}

// request sends one request to the supervisor of name and reads its answer.
func request(stateDir, name string, req controlRequest) (controlReply, error) {
	var reply controlReply
	conn, err := net.Dial("unix", filepath.Join(stateDir, name, controlFile))
	if err != nil {
		return reply, fmt.Errorf("reach supervisor: %w", err)
	}
	defer conn.Close()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return reply, fmt.Errorf("send %s request: %w", req.Op, err)
	}
	if err := json.NewDecoder(conn).Decode(&reply); err != nil {
		return reply, fmt.Errorf("supervisor gave no answer: %w", err)
	}
	if reply.Error != "" {
		return reply, errors.New(reply.Error)
	}
	if req.Op != "profile" && reply.Result == nil {
		return reply, errors.New("supervisor gave no result")
	}
	return reply, nil
}

// startWait is how long stop and exec wait for a container that is still
// starting.
const startWait = 30 * time.Second

// awaitRunning waits until the record at dir shows a running init, while a
// supervisor is starting it.
func awaitRunning(dir string, timeout time.Duration) error {
	_, err := awaitRecord(dir, func(State) bool { return true }, timeout)
	return err
}

// awaitRecord waits until the record at dir shows a running init for
// which ready holds, while its supervisor is starting it. The record is
// renamed into place on each change (record.write), which inotify reports;
// a start that fails removes the directory.
func awaitRecord(dir string, ready func(State) bool, timeout time.Duration) (State, error) {
	stateDir, name := filepath.Dir(dir), filepath.Base(dir)
	look := func() (State, bool, error) {
		s, err := Load(stateDir, name)
		switch {
		case err == nil && ready(s):
			return s, true, nil
		case err == nil, errors.Is(err, ErrNotRunning) && starting(dir):
			return s, false, nil // not yet
		case errors.Is(err, ErrNotRunning):
			return s, true, err
		}
		return s, true, err
	}
	if s, done, err := look(); done {
		return s, err
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return State{}, err
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MOVED_TO|unix.IN_DELETE_SELF|unix.IN_ATTRIB); err != nil {
		return State{}, ErrNotRunning // gone meanwhile
	}
	buf := make([]byte, 4096)
	for deadline := time.Now().Add(timeout); ; {
		// Looked at again after the watch is set, so that no change
		// falls between the look and the watch.
		s, done, err := look()
		if done {
			return s, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return s, fmt.Errorf("%w: still starting after %v", ErrNotRunning, timeout)
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, int(left.Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			return s, err
		}
		_, _ = unix.Read(fd, buf) // drain; the events only wake us
	}
}
