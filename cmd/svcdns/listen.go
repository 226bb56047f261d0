package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// listenError says a failed bind once, as the kernel's listen error names
// it ("listen tcp 127.0.0.1:1053: bind: address already in use"), followed
// by what to do about it. flag is the flag that sets the address.
func listenError(err error, flag string) error {
	var op *net.OpError
	if !errors.As(err, &op) {
		return err
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%v; another process (another svcdns?) has that address: use %s to pick another", op, flag)
	case errors.Is(err, syscall.EACCES) && port(op.Addr) > 0 && port(op.Addr) < 1024:
		exe, e := os.Executable()
		if e != nil {
			exe = "svcdns"
		}
		return fmt.Errorf("%v; ports below 1024 need the CAP_NET_BIND_SERVICE capability: run svcdns from "+
			"the systemd unit deploy/svcdns.service, or grant it to the binary with "+
			"`sudo setcap cap_net_bind_service=+ep %s`, or use %s with a port of 1024 or more", op, exe, flag)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("%v; no interface of this machine has that address: use %s with one it has", op, flag)
	}
	return op
}

func port(a net.Addr) int {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.Port
	case *net.UDPAddr:
		return a.Port
	}
	return 0
}
