"""A seccomp filter the worker installs on itself before any candidate code arrives (both sandbox backends).

Seccomp filters are inherited by every process the candidate starts and can never be removed, so what it denies is
denied to the candidate for good. It denies (EPERM) the system calls a policy never needs and an attacker uses to
reach past its worker: other processes' memory (ptrace, process_vm_*, pidfd_getfd, kcmp), kernel objects that
outlive it or are shared machine-wide (keyrings, namespaces, mounts, bpf, perf events, userfaultfd, inotify and
fanotify watches on shared files), asynchronous and direct I/O that leaves unkillable processes and exhausts the
machine's AIO slots (io_setup, io_submit, io_uring, O_DIRECT), and what drops or probes pages of the shared page
cache (fadvise, readahead, mincore), which a candidate could use to leave marks for a later worker.

Only the standard library: the worker imports it beside wire.py.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "process_madvise",
    "keyctl", "add_key", "request_key", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "bpf", "perf_event_open", "userfaultfd", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "acct", "swapon", "swapoff", "reboot", "syslog", "name_to_handle_at", "open_by_handle_at",
    "fanotify_init", "inotify_init", "inotify_init1", "inotify_add_watch", "move_pages", "migrate_pages",
    "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "fadvise64", "readahead", "mincore", "openat2")

SYSCALLS = {
    "x86_64": {
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_getfd": 438, "kcmp": 312,
        "process_madvise": 440, "keyctl": 250, "add_key": 248, "request_key": 249, "unshare": 272, "setns": 308,
        "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "bpf": 321, "perf_event_open": 298,
        "userfaultfd": 323, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
        "delete_module": 176, "acct": 163, "swapon": 167, "swapoff": 168, "reboot": 169, "syslog": 103,
        "name_to_handle_at": 303, "open_by_handle_at": 304, "fanotify_init": 300, "inotify_init": 253,
        "inotify_init1": 294, "inotify_add_watch": 254, "move_pages": 279, "migrate_pages": 256, "io_setup": 206,
        "io_destroy": 207, "io_submit": 209, "io_cancel": 210, "io_getevents": 208, "io_pgetevents": 333,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "fadvise64": 221, "readahead": 187,
        "mincore": 27, "openat2": 437, "open": 2, "openat": 257},
    "aarch64": {
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "pidfd_getfd": 438, "kcmp": 272,
        "process_madvise": 440, "keyctl": 219, "add_key": 217, "request_key": 218, "unshare": 97, "setns": 268,
        "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "bpf": 280, "perf_event_open": 241,
        "userfaultfd": 282, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
        "delete_module": 106, "acct": 89, "swapon": 224, "swapoff": 225, "reboot": 142, "syslog": 116,
        "name_to_handle_at": 264, "open_by_handle_at": 265, "fanotify_init": 262, "inotify_init1": 26,
        "inotify_add_watch": 27, "move_pages": 239, "migrate_pages": 238, "io_setup": 0, "io_destroy": 1,
        "io_submit": 2, "io_cancel": 3, "io_getevents": 4, "io_pgetevents": 292, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "fadvise64": 223, "readahead": 213, "mincore": 232,
        "openat2": 437, "openat": 56}}
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
O_DIRECT = {"x86_64": 0o40000, "aarch64": 0o200000}

LD_W_ABS, JEQ_K, JSET_K, RET_K = 0x20, 0x15, 0x45, 0x06
ALLOW, KILL_PROCESS = 0x7FFF0000, 0x80000000
DENY = 0x00050000 | errno.EPERM
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
NR, ARCH, ARGS = 0, 4, 16


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program(machine: str) -> bytes:
    """The filter for ``machine``: another architecture's calls are killed, the denied ones get EPERM, ``open``
    and ``openat`` with O_DIRECT get EPERM, everything else runs."""
    table = SYSCALLS[machine]
    denied = [table[name] for name in DENIED if name in table]
    opens = [(table[name], ARGS + 8 * arg) for name, arg in (("open", 1), ("openat", 2)) if name in table]
    code = [_insn(LD_W_ABS, ARCH), _insn(JEQ_K, AUDIT_ARCH[machine], 1, 0), _insn(RET_K, KILL_PROCESS),
            _insn(LD_W_ABS, NR)]
    for number in denied:
        code += [_insn(JEQ_K, number, 0, 1), _insn(RET_K, DENY)]
    for number, flags in opens:  # if nr == open(at): load the flags; O_DIRECT set -> EPERM; else allow
        code += [_insn(JEQ_K, number, 0, 4), _insn(LD_W_ABS, flags), _insn(JSET_K, O_DIRECT[machine], 0, 1),
                 _insn(RET_K, DENY), _insn(RET_K, ALLOW)]
    code.append(_insn(RET_K, ALLOW))
    return b"".join(code)


def install() -> str:
    """Install the filter on this process (and so on all it starts); returns what was done, in words."""
    machine = platform.machine()
    if machine not in SYSCALLS:
        return f"no seccomp filter: {machine} is not a known architecture"
    libc = ctypes.CDLL(None, use_errno=True)
    filters = ctypes.create_string_buffer(program(machine))

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = Program(len(filters.raw) // 8, ctypes.addressof(filters))
    # A filter needs no_new_privs (or CAP_SYS_ADMIN); bubblewrap and Docker's no-new-privileges set it already.
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
            libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"installing the seccomp filter failed: {os.strerror(ctypes.get_errno())}")
    return f"seccomp filter on {machine}: {len(DENIED)} calls and O_DIRECT denied"
