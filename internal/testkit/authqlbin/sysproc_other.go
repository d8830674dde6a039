//go:build !linux

package authqlbin

import "syscall"

// dieWithParent has no portable equivalent: Start's cleanup stops the server.
func dieWithParent() *syscall.SysProcAttr { return nil }
