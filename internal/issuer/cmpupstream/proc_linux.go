package cmpupstream

import "syscall"

// childAttr makes an openssl process die with certgate (SIGKILL when its
// parent dies, prctl PR_SET_PDEATHSIG): a certgate killed mid-enrollment
// must not leave openssl to finish an enrollment whose answer nobody
// stores. Go ends an OS thread only when a goroutine locked to it returns,
// which the goroutine that starts openssl never is.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
