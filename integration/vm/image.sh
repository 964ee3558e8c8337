#!/usr/bin/env bash
# image.sh [DIR]: build once, and cache, the VM that the systemd-host tests
# boot (integration/vm): a Debian bookworm host with its own kernel, systemd
# as PID 1 and cgroup v2 only; print DIR, which then holds vmlinuz, initrd
# and disk.img (a raw ext4 image, the VM's root, booted with snapshot=on so
# that it is never written).
#
# The image carries:
#   - a unit, vm-test.service, that on every boot mounts the host's 9p share
#     (mount tag "share") on /mnt/share and runs /mnt/share/run.sh, which
#     writes its results to the share; without a share it powers off;
#   - the containers' roots, baked in so that no container runs on 9p:
#     /var/lib/containers/foo, a copy of the Debian systemd root of the
#     integration tests (fixtures/debian-root.sh), and a NixOS-shaped
#     container "nix": an empty /var/lib/containers/nix and, in /nix/store,
#     a busybox, the Debian root as the system's files and two systems
#     whose init is a stage-2 script, each with a switch-to-configuration,
#     the profile /nix/var/nix/profiles/containers/nix pointing at the first.
#
# The cache key is this script's content and the Debian root's script's:
# when either changes, the image is built again. The build takes a few
# minutes (debootstrap with a kernel); it needs root, debootstrap and
# mkfs.ext4 (e2fsprogs), and /bin/busybox (busybox-static).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${1:-/var/cache/containerctl-test/vm}
suite=bookworm
key=$(cat "${BASH_SOURCE[0]}" "$here/../fixtures/debian-root.sh" "$here/../fixtures/mirror.sh" | sha256sum | cut -c1-16)

if [[ -f $dir/key && $(cat "$dir/key") == "$key" && -f $dir/disk.img && -f $dir/vmlinuz && -f $dir/initrd ]]; then
	echo "$dir"
	exit 0
fi

if [[ $(id -u) != 0 ]]; then
	echo "image.sh: must run as root (debootstrap)" >&2
	exit 1
fi
for tool in debootstrap:debootstrap mkfs.ext4:e2fsprogs; do
	if ! command -v "${tool%%:*}" >/dev/null; then
		echo "image.sh: ${tool%%:*} missing; installing ${tool#*:}" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool#*:}" >&2
	fi
done
if [[ ! -x /bin/busybox ]]; then
	echo "image.sh: /bin/busybox must be a static busybox (Debian package busybox-static)" >&2
	exit 1
fi

debian_root=$(bash "$here/../fixtures/debian-root.sh")

# The mirror: the one apt is configured with (fixtures/mirror.sh).
# shellcheck source=/dev/null
source "$here/../fixtures/mirror.sh"
mirror=$(apt_mirror)

parent=$(dirname "$dir")
mkdir -p "$parent"
tmp=$(mktemp -d "$parent/.$(basename "$dir").tmp.XXXXXX")
chmod 755 "$tmp"
root=$tmp/root
mkdir -m 755 "$root"
cleanup() {
	local m
	for m in $(awk -v t="$tmp" '$5 == t || index($5, t "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

# udev makes the serial and virtio devices' units appear (without it,
# systemd waits for them); systemd-container only for machines.target;
# kmod to load 9p.
echo "image.sh: debootstrap $suite with a kernel from $mirror into $root" >&2
debootstrap --variant=minbase \
	--include=linux-image-amd64,initramfs-tools,kmod,udev,systemd,systemd-sysv,dbus,systemd-container,procps \
	"$suite" "$root" "$mirror" >"$tmp/debootstrap.log" 2>&1 || {
	echo "image.sh: debootstrap failed; last lines of its log:" >&2
	tail -n 20 "$tmp/debootstrap.log" >&2
	exit 1
}
if ! ls "$root"/boot/initrd.img-* >/dev/null 2>&1; then
	chroot "$root" update-initramfs -c -k all >&2
fi
cp "$(ls "$root"/boot/vmlinuz-* | tail -n 1)" "$tmp/vmlinuz"
cp "$(ls "$root"/boot/initrd.img-* | tail -n 1)" "$tmp/initrd"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

# The host: a fixed machine-id (an empty one would make every boot a first
# boot, with presets applied again), no gettys, no timers, a quiet console.
echo vmhost >"$root/etc/hostname"
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$root/etc/machine-id"
echo >>"$root/etc/machine-id"
: >"$root/etc/fstab"
for u in getty@tty1.service serial-getty@ttyS0.service apt-daily.timer apt-daily-upgrade.timer \
	e2scrub_all.timer fstrim.timer systemd-timesyncd.service; do
	ln -sf /dev/null "$root/etc/systemd/system/$u"
done
# Debian's systemd-container enables machines.target; make sure.
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf /lib/systemd/system/machines.target "$root/etc/systemd/system/multi-user.target.wants/machines.target"

cat >"$root/usr/local/sbin/vm-test-runner" <<'EOF'
#!/bin/bash
# Mount the host's share and run its run.sh; without one, power off.
modprobe -a 9p 9pnet_virtio 2>/dev/null
mkdir -p /mnt/share
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /mnt/share; then
	echo "vm-test-runner: no 9p share; powering off" >/dev/console
	systemctl poweroff
	exit 1
fi
if [[ ! -f /mnt/share/run.sh ]]; then
	echo "vm-test-runner: no run.sh on the share; powering off" >/dev/console
	systemctl poweroff
	exit 1
fi
exec bash /mnt/share/run.sh
EOF
chmod 755 "$root/usr/local/sbin/vm-test-runner"
cat >"$root/etc/systemd/system/vm-test.service" <<'EOF'
[Unit]
Description=containerctl VM test runner (run.sh on the 9p share)
After=multi-user.target machines.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vm-test-runner
TimeoutStartSec=infinity
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/vm-test.service "$root/etc/systemd/system/multi-user.target.wants/vm-test.service"

# The containers' roots. Fake Nix store hashes, 32 characters as Nix's.
# /var/lib/containers is 0700, as on NixOS: no host user reaches a setuid
# file a guest plants in its root.
mkdir -m 700 "$root/var/lib/containers"
cp -a "$debian_root" "$root/var/lib/containers/foo"
bb=/nix/store/0bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-busybox
deb=/nix/store/0ddddddddddddddddddddddddddddddd-debian
mkdir -p "$root$bb/bin" "$root/nix/var/nix/profiles/containers"
cp /bin/busybox "$root$bb/bin/busybox"
for a in sh ln cp mkdir chmod sleep cat echo; do ln -s busybox "$root$bb/bin/$a"; done
cp -a "$debian_root" "$root$deb"
for n in 1 2; do
	sys=/nix/store/0s${n}s${n}s${n}s${n}s${n}s${n}s${n}s${n}s${n}s${n}s${n}s${n}s${n}s${n}s${n}s-system
	mkdir -p "$root$sys/bin"
	# NixOS's stage 2, in short: make the root from the system, then
	# exec its systemd; the halt signal is trapped first.
	cat >"$root$sys/init" <<EOF
#!$bb/bin/sh
trap 'echo NIXINIT-HALT; exit 0' 37
export PATH=$bb/bin
echo NIXINIT-STAGE2 system $n pid \$\$
ln -sfn $deb/usr /usr
ln -sfn usr/bin /bin
ln -sfn usr/sbin /sbin
ln -sfn usr/lib /lib
ln -sfn usr/lib64 /lib64
[ -e /etc/passwd ] || cp -a $deb/etc/. /etc/
mkdir -p /var/lib /var/log /var/cache /var/spool /var/tmp /root /tmp /home /srv /mnt /opt /media
chmod 1777 /var/tmp /tmp
chmod 0700 /root
ln -sfn /run /var/run
ln -sfn /run/lock /var/lock
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec $deb/usr/lib/systemd/systemd "\$@"
EOF
	cat >"$root$sys/bin/switch-to-configuration" <<EOF
#!$bb/bin/sh
echo "system=$n arg=\$1" > /root/switched
EOF
	chmod 755 "$root$sys/init" "$root$sys/bin/switch-to-configuration"
	[[ $n == 1 ]] && ln -s "$sys" "$root/nix/var/nix/profiles/containers/nix"
done
mkdir -p "$root/var/lib/containers/nix/etc"
printf 'ID=nixos\nNAME=NixOS\n' >"$root/var/lib/containers/nix/etc/os-release"

# The disk: what the tree holds, plus room for the containers' journals
# and the VM's own writes (which go to qemu's snapshot file all the same).
size=$(($(du -sm "$root" | cut -f1) * 5 / 4 + 768))
echo "image.sh: mkfs.ext4 -d, ${size} MiB" >&2
mkfs.ext4 -q -F -L vmroot -d "$root" "$tmp/disk.img" "${size}M" >&2
echo "$key" >"$tmp/key"
rm -rf --one-file-system "$root" "$tmp/debootstrap.log"

if [[ -e $dir ]]; then
	old=$(mktemp -d "$parent/.$(basename "$dir").old.XXXXXX")
	mv -T "$dir" "$old/vm"
	rm -rf --one-file-system "$old"
fi
mv -T "$tmp" "$dir"
trap - EXIT
echo "$dir"
