// Command thumbnail writes the frame SPEC names (e.g. vframe/jpg/offset/7/w/480) to OUT:
//
//	thumbnail VIDEO SPEC OUT
//
// Build it in a module of its own against an installed vframe (README, "Go");
// scripts/go-install-test.sh does exactly that.
package main

import (
	"errors"
	"fmt"
	"log"
	"os"

	"vframe"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: thumbnail VIDEO SPEC OUT")
		os.Exit(2)
	}
	jpeg, err := vframe.Extract(os.Args[1], os.Args[2])
	if errors.Is(err, vframe.ErrInvalidSpec) {
		log.Fatal("fix the spec: ", err)
	} else if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(os.Args[3], jpeg, 0o644); err != nil {
		log.Fatal(err)
	}
}
