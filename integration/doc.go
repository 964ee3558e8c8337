// Package integration holds the end-to-end tests of containerctl: they build
// the binary and a small static init (testinit), start real containers as
// root, and check them from the host and from inside.
//
// Run them with
//
//	CONTAINERCTL_INTEGRATION=1 go test -count=1 -v ./integration/
//
// Without root they skip, except when CONTAINERCTL_INTEGRATION=1, where
// they fail: a skip must never hide a regression in CI.
package integration
