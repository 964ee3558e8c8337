/*
 * dropcode: what containerctl-monitor and containerctl-reaper, which stay
 * for a container's whole life, keep mapped of their own binary.
 *
 * The kernel maps a binary's pages in large runs (a whole large folio, or
 * the fault-around window), so that a static program of 0.5 MiB of text
 * has nearly all of it resident after its start, most of it code it never
 * runs again (argument parsing, glibc's start-up). dropcode takes the
 * binary's code and read-only data out of the process's page tables
 * (MADV_DONTNEED): the pages stay in the page cache, and what runs after
 * faults back in. Writable segments, and a RELRO range (written by the
 * start's relocations before it was made read-only), are kept: dropping
 * them would take those writes back.
 */
#ifndef CONTAINERCTL_DROPCODE_H
#define CONTAINERCTL_DROPCODE_H

#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/mman.h>

static void dropcode_range(uintptr_t lo, uintptr_t hi)
{
	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

struct dropcode_main_object {
	uintptr_t bias;
	const ElfW(Phdr) *ph;
	size_t n;
};

/* The main program is the first object dl_iterate_phdr reports, with its
 * load bias (0 for a static binary that is not PIE). */
static int dropcode_main(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct dropcode_main_object *set = data;
	set->bias = info->dlpi_addr;
	set->ph = info->dlpi_phdr;
	set->n = info->dlpi_phnum;
	return 1;
}

static void dropcode(void)
{
	struct dropcode_main_object set = { 0 };
	long pg = sysconf(_SC_PAGESIZE);
	if (dl_iterate_phdr(dropcode_main, &set) != 1 || set.ph == NULL || pg <= 0)
		return;
	const ElfW(Phdr) *ph = set.ph;
	uintptr_t mask = ~(uintptr_t)(pg - 1);
	uintptr_t bias = set.bias, relro_lo = 0, relro_hi = 0;
	for (size_t i = 0; i < set.n; i++)
		if (ph[i].p_type == PT_GNU_RELRO) {
			relro_lo = (bias + ph[i].p_vaddr) & mask;
			relro_hi = (bias + ph[i].p_vaddr + ph[i].p_memsz + pg - 1) & mask;
		}
	for (size_t i = 0; i < set.n; i++) {
		if (ph[i].p_type != PT_LOAD || (ph[i].p_flags & PF_W))
			continue;
		/* Whole pages only: the last one may hold the next segment. */
		uintptr_t lo = (bias + ph[i].p_vaddr + pg - 1) & mask;
		uintptr_t hi = (bias + ph[i].p_vaddr + ph[i].p_filesz) & mask;
		if (relro_hi > lo && relro_lo < hi) {
			dropcode_range(lo, relro_lo);
			lo = relro_hi;
		}
		dropcode_range(lo, hi);
	}
}

#endif
