package authqlbin

import "syscall"

// dieWithParent kills the server should the test binary die (a timeout
// panic), so that no server outlives its test.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
