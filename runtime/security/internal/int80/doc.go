// Package int80 makes i386 system calls from a 64-bit process through int
// 0x80 (amd64 only).
package int80
