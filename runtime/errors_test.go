package runtime

import (
	"errors"
	"os"
	"testing"
)

// TestInitErrorIs: an error from the child matches its errno and its
// kind's sentinel in the supervisor, after the trip as JSON.
func TestInitErrorIs(t *testing.T) {
	e := &InitError{Message: "init /x: no such file", Errno: 2, Kind: kindInitNotFound}
	if !errors.Is(e, ErrInitNotFound) || !errors.Is(e, os.ErrNotExist) || errors.Is(e, ErrMount) {
		t.Errorf("InitError %+v: Is(ErrInitNotFound)=%v Is(ErrNotExist)=%v Is(ErrMount)=%v, want true, true, false",
			e, errors.Is(e, ErrInitNotFound), errors.Is(e, os.ErrNotExist), errors.Is(e, ErrMount))
	}
	if !errors.Is(&InitNotFoundError{Path: "/x", Err: os.ErrNotExist}, ErrInitNotFound) {
		t.Error("InitNotFoundError does not match ErrInitNotFound")
	}
}
