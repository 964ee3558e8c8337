#!/bin/bash
# guest.sh, run as /mnt/share/run.sh inside the VM by vm-test.service (see
# image.sh) on every boot: the checks of containerctl on a real systemd host
# with cgroup v2 only. The share's stage file says which boot this is:
# stage 1 runs the checks and reboots the VM, stage 2 checks that the
# auto-started container came up with the VM, and powers off.
#
# Results go to the share, one line each in results:
#	ok NAME DETAIL | fail NAME DETAIL
# with evidence (journal excerpts, state) in evidence/NAME, timings in
# timings, and this script's trace in trace-STAGE. A process start costs
# about 45 ms under TCG, so checks read /proc and /sys with bash's own
# builtins and ask systemctl once per poll.
set -u
R=/mnt/share
stage=$(<"$R/stage")
mkdir -p "$R/evidence"
exec 3>>"$R/trace-$stage"
BASH_XTRACEFD=3
PS4='+ $EPOCHREALTIME '
set -x

# A script that ends before its stage does (a bug, a missing tool) says so
# and powers the VM off, rather than leaving the test to its timeout.
finished=0
on_exit() {
	local rc=$?
	[[ $finished == 1 ]] && return
	result fail guest.sh "stage $stage ended early (exit $rc); see trace-$stage"
	echo done >"$R/stage"
	sync
	systemctl poweroff
}
trap on_exit EXIT

# journals: every container unit's journal of this boot, for the evidence.
journals() {
	journalctl -b -u 'container@*' -u container-hung -u container-pu --no-pager -o short-monotonic >"$R/journal-$stage" 2>&1
}

progress() { echo "vm-test: $*" >/dev/console; }
result() { # result ok|fail NAME DETAIL...: one line, whatever DETAIL holds
	local st=$1 name=$2 detail
	shift 2
	detail=$*
	detail=${detail//$'\n'/ | }
	echo "$st $name $detail" >>"$R/results"
	progress "$st $name $detail"
}
evidence() { cat >>"$R/evidence/$1"; }
timing() { echo "$1 $2" >>"$R/timings"; }
since() { # seconds since $1 (an $EPOCHREALTIME), 0.1 s precision
	local us=$((${EPOCHREALTIME/./} - ${1/./}))
	printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000))
}

# props UNIT: the unit's properties we look at, into the array P.
declare -A P
props() {
	local k v
	P=()
	while IFS='=' read -r k v; do P[$k]=$v; done < <(systemctl show "$1" \
		-p ActiveState,SubState,Result,MainPID,NRestarts,InvocationID,ControlGroup,ExecMainStatus)
}

# initpid NAME: the guest's PID 1 on the host, from containerctl status.
initpid() {
	local out
	out=$(containerctl status "$1" --json 2>/dev/null) || { echo 0; return; }
	[[ $out =~ \"pid\":\ ([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo 0
}

# journal UNIT NAME: the unit's journal of this boot, into NAME's evidence.
journal() {
	{ echo "--- journalctl -b -u $1"; journalctl -b -u "$1" --no-pager -o short-monotonic | tail -n 80; } | evidence "$2"
}

# restarted UNIT NAME OLDPID OLDRESTARTS: waits for the unit to be active
# again, restarted, with another guest PID 1.
restarted() {
	local unit=$1 name=$2 old=$3 nr=$4 t0=$EPOCHREALTIME pid=0
	for ((i = 0; i < 600; i++)); do
		props "$unit"
		if [[ ${P[ActiveState]} == active && ${P[NRestarts]} -gt $nr ]]; then
			pid=$(initpid "$name")
			[[ $pid != 0 && $pid != "$old" ]] && break
		fi
		sleep 0.2
	done
	RESTART_TOOK=$(since "$t0")
	NEWPID=$pid
	[[ ${P[ActiveState]} == active && ${P[NRestarts]} -gt $nr && $pid != 0 && $pid != "$old" ]]
}

# nsof PID: the PID and mount namespaces of a container's init, into NS,
# for leftovers to look for once the container has stopped.
nsof() {
	NS=($(readlink "/proc/$1/ns/pid" "/proc/$1/ns/mnt"))
	NS=("${NS[@]//[/\\[}") # as find -lname patterns: pid:\[4026531836]
}

# leftovers NAME CGROUP: what of a container remains: processes in the
# namespaces nsof found, its record, its unit's cgroup. (A process's
# /proc/PID/root says nothing from outside its mount namespace.)
leftovers() {
	local left
	left=$(find /proc -mindepth 3 -maxdepth 3 \( -path '/proc/*/ns/pid' -lname "${NS[0]:-none}" \) -o \
		\( -path '/proc/*/ns/mnt' -lname "${NS[1]:-none}" \) 2>/dev/null)
	[[ -n $left ]] && echo "processes in ${NS[*]}: ${left//$'\n'/ }"
	[[ -e /run/containerctl/$1 ]] && echo "record /run/containerctl/$1 remains"
	[[ -n $2 && -d /sys/fs/cgroup$2 ]] && echo "cgroup $2 remains"
	return 0
}

stage1() {
	local up
	read -r up _ </proc/uptime
	timing boot-to-runner-1 "$up"
	progress "stage 1: $(systemd-analyze 2>&1 | head -n 1)"
	systemd-analyze 2>&1 | head -n 1 | evidence boot
	install -m 755 "$R/bin/containerctl" "$R/bin/containerctl-nsenter" "$R/bin/containerctl-monitor" /usr/local/bin/
	containerctl unit --template --auto-start >/etc/systemd/system/container@.service
	mkdir -p /etc/containers
	cat >/etc/containers/foo.conf <<-EOF
		ROOT=/var/lib/containers/foo
		EXTRA_FLAGS="--boot --memory-max=256M --tasks-max=512"
	EOF
	cat >/etc/containers/nix.conf <<-EOF
		SYSTEM_PATH=/nix/var/nix/profiles/containers/nix
		ROOT=/var/lib/containers/nix
	EOF
	mkdir -p /var/lib/containers/hung
	install -m 755 "$R/bin/hunginit" /var/lib/containers/hung/init
	containerctl unit hung --root=/var/lib/containers/hung --store= --stop-timeout=10s -- /init \
		>/etc/systemd/system/container-hung.service
	# foo's root again, once foo has stopped, with the private users that
	# containerctl unit gives by default (--private-users=pick).
	containerctl unit pu --root=/var/lib/containers/foo --boot >/etc/systemd/system/container-pu.service
	systemctl daemon-reload
	{ cat /etc/systemd/system/container@.service; echo; cat /etc/systemd/system/container-hung.service /etc/systemd/system/container-pu.service; } | evidence units
	[[ $(</proc/self/mountinfo) == *" - cgroup "* ]] && result fail cgroup2-only "a cgroup v1 hierarchy is mounted"
	[[ -f /sys/fs/cgroup/cgroup.controllers ]] && result ok cgroup2-only "$(</sys/fs/cgroup/cgroup.controllers)"
	find /sys/fs/cgroup -type d | sort >/run/cg-before

	check_foo
	check_private_users
	check_nix
	check_hung
	check_imperative

	progress "stage 1 done; rebooting the VM"
	journals
	finished=1
	echo 2 >"$R/stage"
	sync
	systemctl reboot
	exit 0
}

check_foo() {
	local t0 out pid1 cg mainpid
	t0=$EPOCHREALTIME
	systemctl start container@foo
	local rc=$? took
	took=$(since "$t0")
	timing start-foo "$took"
	props container@foo
	out=$(timeout 60 containerctl exec foo -- systemctl is-system-running 2>&1)
	if [[ $rc == 0 && ${P[ActiveState]} == active && $out =~ ^(running|degraded) ]]; then
		result ok start "systemctl start returned in ${took}s, active, guest says $out"
	else
		result fail start "systemctl start: exit $rc, ActiveState ${P[ActiveState]}, guest's is-system-running right after: $out"
		journal container@foo start
	fi
	journal container@foo boot-journal
	if grep -q 'Welcome to .*Debian' "$R/evidence/boot-journal" && grep -q 'Reached target.*Multi-User' "$R/evidence/boot-journal"; then
		result ok boot-journal "the guest's boot messages are in journalctl -u container@foo"
		: >"$R/evidence/boot-journal"
	else
		result fail boot-journal "no \"Welcome to Debian\" and \"Reached target Multi-User\" in journalctl -u container@foo"
	fi

	# Cgroups: payload and supervisor below the unit's, the limits there,
	# nothing new outside.
	cg=${P[ControlGroup]} mainpid=${P[MainPID]} pid1=$(initpid foo)
	local scg pcg limit=() bad=()
	scg=$(</proc/"$mainpid"/cgroup) pcg=$(</proc/"$pid1"/cgroup)
	find /sys/fs/cgroup -type d | sort >/run/cg-during
	local d
	while read -r d; do
		case $d in
		/sys/fs/cgroup/machine.slice | "/sys/fs/cgroup$cg" | "/sys/fs/cgroup$cg"/*) ;;
		/sys/fs/cgroup/system.slice/*.service | /sys/fs/cgroup/system.slice/*.scope) ;; # systemd's own
		*) bad+=("$d") ;;
		esac
	done < <(comm -13 /run/cg-before /run/cg-during)
	# The limits: on the cgroup of the container's, between the unit's and
	# the one the guest's systemd put its PID 1 in (init.scope).
	local at=${pcg#0::} lcg=""
	while [[ $at == "$cg/"* ]]; do
		if [[ $(<"/sys/fs/cgroup$at/memory.max") == 268435456 ]]; then
			lcg=$at limit=("$(<"/sys/fs/cgroup$at/memory.max")" "$(<"/sys/fs/cgroup$at/pids.max")")
			break
		fi
		at=${at%/*}
	done
	if [[ $cg == /machine.slice/container@foo.service && $scg == "0::$cg/"* && $pcg == "0::$cg/"* && ${#bad[@]} == 0 &&
		-n $lcg && ${limit[1]} == 512 ]]; then
		result ok cgroup "unit $cg: supervisor in ${scg#0::}, guest PID 1 in ${pcg#0::}, memory.max ${limit[0]} and pids.max ${limit[1]} on $lcg"
	else
		result fail cgroup "unit cgroup $cg; supervisor (pid $mainpid) in $scg; guest PID 1 ($pid1) in $pcg; memory.max 268435456 on ${lcg:-no cgroup below the unit}, pids.max there ${limit[1]:-?} (want 512); new cgroups outside the unit: ${bad[*]:-none}"
	fi
	comm -13 /run/cg-before /run/cg-during | evidence cgroup
	# The supervisor hands off to the monitor once the guest is ready: the
	# unit's main process stays, and runs the small C program.
	local exe="" threads="" i
	for i in $(seq 50); do
		exe=$(readlink "/proc/$mainpid/exe") threads=$(awk '/^Threads:/{print $2}' "/proc/$mainpid/status")
		[[ $exe == /usr/local/bin/containerctl-monitor ]] && break
		sleep 0.1
	done
	if [[ $exe == /usr/local/bin/containerctl-monitor && $threads == 1 && $(systemctl show -P MainPID container@foo) == "$mainpid" ]]; then
		result ok monitor "main process $mainpid runs $exe, $threads thread"
	else
		result fail monitor "main process $mainpid runs ${exe:-nothing} with ${threads:-?} threads (unit's MainPID now $(systemctl show -P MainPID container@foo)); want /usr/local/bin/containerctl-monitor, 1 thread"
	fi
	# The stop check's detector, on the running container: it must see it.
	local seen
	nsof "$pid1"
	seen=$(leftovers foo "$cg")
	if [[ $seen != *"processes in pid:"* || $seen != *"record "* || $seen != *"cgroup $cg"* ]]; then
		result fail leftovers-detector "while foo runs, the leftover check sees only: ${seen:-nothing}"
	fi

	# A reboot inside the guest: exit 133, the unit restarts it.
	local nr=${P[NRestarts]} inv=${P[InvocationID]}
	timeout 60 containerctl exec foo -- systemctl reboot
	# Restart=on-failure restarts a success only for
	# RestartForceExitStatus=133: a restart with no failure logged is the
	# reboot's 133.
	local restarted_ok=0 failed
	restarted container@foo foo "$pid1" "$nr" && [[ ${P[InvocationID]} != "$inv" ]] && restarted_ok=1
	failed=$(journalctl -b -u container@foo --no-pager -o cat | grep -c 'Failed with result')
	if [[ $restarted_ok == 1 && $failed == 0 ]]; then
		result ok reboot "guest PID 1 $pid1 -> $NEWPID, NRestarts $nr -> ${P[NRestarts]}, no failure logged (exit 133), active again in ${RESTART_TOOK}s"
		timing reboot-foo "$RESTART_TOOK"
	else
		result fail reboot "after systemctl reboot in the guest: ActiveState ${P[ActiveState]}, NRestarts $nr -> ${P[NRestarts]}, PID 1 $pid1 -> $NEWPID, $failed failure(s) logged"
		journal container@foo reboot
	fi
	pid1=$NEWPID

	# The guest's init killed from the host: a failure, restarted.
	nr=${P[NRestarts]}
	kill -9 "$pid1"
	if restarted container@foo foo "$pid1" "$nr"; then
		result ok crash "after kill -9 of guest PID 1 $pid1: NRestarts $nr -> ${P[NRestarts]}, new PID 1 $NEWPID in ${RESTART_TOOK}s"
	else
		result fail crash "after kill -9 of guest PID 1: ActiveState ${P[ActiveState]}, NRestarts $nr -> ${P[NRestarts]}"
		journal container@foo crash
	fi
	journalctl -b -u container@foo --no-pager -o cat >/run/foo-journal
	if ! grep -q 'Scheduled restart job' /run/foo-journal || ! grep -q 'Failed with result' /run/foo-journal; then
		result fail restart-journal "journalctl -u container@foo lacks systemd's restart after the crash"
		journal container@foo restart-journal
	fi

	# The halt: RTMIN+3, the guest's shutdown in the journal, nothing left.
	nsof "$NEWPID"
	t0=$EPOCHREALTIME
	systemctl stop container@foo
	took=$(since "$t0")
	timing stop-foo "$took"
	props container@foo
	find /sys/fs/cgroup -type d | sort >/run/cg-after
	local left extra
	left=$(leftovers foo "$cg")
	extra=$(comm -13 /run/cg-before /run/cg-after | grep -vx '/sys/fs/cgroup/machine.slice')
	journalctl -b -u container@foo --no-pager -o cat | tail -n 300 >/run/foo-journal
	if [[ ${P[ActiveState]} == inactive && ${P[Result]} == success && -z $left$extra ]] &&
		grep -q 'halting, sent SIGRTMIN+3' /run/foo-journal && grep -q 'System is halting\|Halting system\|Reached target.*System Halt' /run/foo-journal; then
		result ok stop "stopped in ${took}s through SIGRTMIN+3, the guest's shutdown in the journal, nothing left"
	else
		result fail stop "after systemctl stop (${took}s): ActiveState ${P[ActiveState]}, Result ${P[Result]}; left: ${left:-nothing}; new cgroups: ${extra:-none}"
		journal container@foo stop
	fi
}

# check_private_users: a unit's default private users on this kernel (6.1,
# whose tmpfs cannot be idmapped): the guest boots, is ready, its root is
# the range's first ID on the host, and it halts.
check_private_users() {
	local t0 rc took out pid1 uid=() left cg
	t0=$EPOCHREALTIME
	timeout 120 systemctl start container-pu
	rc=$? took=$(since "$t0")
	timing start-pu "$took"
	props container-pu
	cg=${P[ControlGroup]}
	pid1=$(initpid pu)
	[[ $pid1 != 0 ]] && while read -r k v _; do [[ $k == Uid: ]] && uid=($v); done <"/proc/$pid1/status"
	nsof "$pid1"
	out=$(timeout 60 containerctl exec pu -- systemctl is-system-running 2>&1)
	timeout 120 systemctl stop container-pu
	props container-pu
	left=$(leftovers pu "$cg")
	if [[ $rc == 0 && $out =~ ^(running|degraded) && ${uid[0]:-0} -ge 65536 && ${P[Result]} == success && -z $left ]]; then
		result ok private-users "container-pu (--private-users=pick) ready in ${took}s, guest says $out, its root is host UID ${uid[0]}, stopped cleanly"
	else
		result fail private-users "systemctl start container-pu: exit $rc after ${took}s; guest: $out; its root's host UID ${uid[0]:-?} (want the range's, >= 65536); after stop Result ${P[Result]}, left: ${left:-nothing}"
		journal container-pu private-users
	fi
}

check_nix() {
	local t0 rc took out pid1 nr
	systemctl enable container@nix 2>&1 | evidence nix-start
	t0=$EPOCHREALTIME
	systemctl start container@nix
	rc=$? took=$(since "$t0")
	timing start-nix "$took"
	props container@nix
	out=$(timeout 60 containerctl exec nix -- systemctl is-system-running 2>&1)
	journalctl -b -u container@nix --no-pager -o cat >/run/nix-journal
	if [[ $rc == 0 && ${P[ActiveState]} == active && $out =~ ^(running|degraded) ]] &&
		grep -q NIXINIT-STAGE2 /run/nix-journal && grep -q 'Welcome to' /run/nix-journal; then
		result ok nix-start "the NixOS-shaped container started in ${took}s under the template, guest says $out"
		: >"$R/evidence/nix-start"
	else
		result fail nix-start "systemctl start container@nix: exit $rc, ActiveState ${P[ActiveState]}, guest: $out"
		journal container@nix nix-start
	fi

	# nix-env --set moves the profile; systemctl reload activates it.
	pid1=$(initpid nix) nr=${P[NRestarts]}
	ln -sfn /nix/store/0s2s2s2s2s2s2s2s2s2s2s2s2s2s2s2s-system /nix/var/nix/profiles/containers/nix
	out=$(systemctl reload container@nix 2>&1)
	rc=$?
	local switched="" now
	[[ -f /var/lib/containers/nix/root/switched ]] && switched=$(</var/lib/containers/nix/root/switched)
	now=$(initpid nix)
	props container@nix
	if [[ $rc == 0 && $switched == "system=2 arg=test" && $now == "$pid1" && ${P[ActiveState]} == active && ${P[NRestarts]} == "$nr" ]]; then
		result ok reload "systemctl reload ran system 2's switch-to-configuration test; guest PID 1 $pid1 unchanged"
	else
		result fail reload "systemctl reload: exit $rc ($out); switched: '$switched' (want 'system=2 arg=test'); PID 1 $pid1 -> $now; ActiveState ${P[ActiveState]}, NRestarts $nr -> ${P[NRestarts]}"
		journal container@nix reload
	fi
	# Left running, and enabled: stage 2 wants it back after the VM's reboot.
}

check_hung() {
	local t0 rc took left
	systemctl start container-hung
	rc=$?
	props container-hung
	if [[ $rc != 0 || ${P[ActiveState]} != active ]]; then
		result fail hung-stop "systemctl start container-hung: exit $rc, ActiveState ${P[ActiveState]}"
		journal container-hung hung-stop
		return
	fi
	local cg=${P[ControlGroup]}
	nsof "$(initpid hung)"
	t0=$EPOCHREALTIME
	systemctl stop container-hung
	took=$(since "$t0")
	timing stop-hung "$took"
	props container-hung
	left=$(leftovers hung "$cg")
	journalctl -b -u container-hung --no-pager -o cat >/run/hung-journal
	# containerctl kills the init at its 10 s stop timeout, well within
	# the unit's TimeoutStopSec (25 s): systemd never has to kill it.
	if [[ ${P[ActiveState]} != active && ${P[Result]} != timeout && -z $left && ${took%.*} -ge 9 && ${took%.*} -lt 25 ]] &&
		grep -q 'did not halt within 10s' /run/hung-journal && ! grep -qi 'State .stop-sigterm. timed out\|Killing process' /run/hung-journal; then
		result ok hung-stop "an init ignoring SIGRTMIN+3 killed by containerctl at its stop timeout: stop took ${took}s, Result ${P[Result]}"
	else
		result fail hung-stop "stop took ${took}s (want 10 s to 25 s); ActiveState ${P[ActiveState]}, Result ${P[Result]} (must not be timeout); left: ${left:-nothing}"
		journal container-hung hung-stop
	fi
}

# check_imperative: containerctl create writes the settings file and, with
# --auto-start, enables the template's instance; start and stop go through
# the unit (a stop that systemd did not ask for would leave it failed or
# restart it); the container runs ephemeral on foo's root (stopped by now)
# with create's default private users, and foo's root keeps none of its
# writes.
check_imperative() {
	local out1 out2 out3 rc1 rc2 rc3 en act uid=() pid1 wrote
	out1=$(containerctl create imp --root=/var/lib/containers/foo --boot --ephemeral --auto-start 2>&1)
	rc1=$?
	en=$(systemctl is-enabled container@imp 2>&1)
	out2=$(timeout 120 containerctl start imp 2>&1)
	rc2=$?
	act=$(systemctl is-active container@imp)
	pid1=$(initpid imp)
	[[ $pid1 != 0 ]] && while read -r k v _; do [[ $k == Uid: ]] && uid=($v); done <"/proc/$pid1/status"
	timeout 60 containerctl exec imp -- sh -c 'echo x >/etc/imp-written'
	out3=$(timeout 120 containerctl stop imp 2>&1)
	rc3=$?
	props container@imp
	wrote=no
	[[ -e /var/lib/containers/foo/etc/imp-written ]] && wrote=yes
	{ cat /etc/containers/imp.conf; echo "$out1"; echo "$out2"; echo "$out3"; } | evidence imperative
	if [[ $rc1 == 0 && $en == enabled && $rc2 == 0 && $out2 == *"through container@imp.service"* && $act == active &&
		${uid[0]:-0} -ge 65536 && $rc3 == 0 && $out3 == *"stopped through container@imp.service"* &&
		${P[ActiveState]} == inactive && ${P[Result]} == success && $wrote == no ]]; then
		result ok imperative "create --auto-start enabled container@imp; start and stop went through it (active, then inactive with Result success); its root was host UID ${uid[0]}; foo's root kept none of its writes"
	else
		result fail imperative "create: exit $rc1, is-enabled $en; start: exit $rc2 ($out2), is-active $act; host UID ${uid[0]:-?}; stop: exit $rc3 ($out3), then ${P[ActiveState]}/${P[Result]}; write reached foo's root: $wrote"
		journal container@imp imperative
	fi
	# Not started again by the VM's reboot: stage 2 checks container@nix.
	systemctl disable --quiet container@imp
}

stage2() {
	local up
	read -r up _ </proc/uptime
	timing boot-to-runner-2 "$up"
	progress "stage 2: $(systemd-analyze 2>&1 | head -n 1)"
	systemd-analyze 2>&1 | head -n 1 | evidence boot
	# vm-test.service is ordered after machines.target, so the container's
	# start job (Type=notify) is done; a slow one may still be activating.
	for ((i = 0; i < 300; i++)); do
		props container@nix
		[[ ${P[ActiveState]} == activating ]] || break
		sleep 0.2
	done
	local out
	out=$(timeout 60 containerctl exec nix -- systemctl is-system-running 2>&1)
	if [[ ${P[ActiveState]} == active && $out =~ ^(running|degraded) ]] && systemctl is-enabled -q container@nix; then
		result ok autostart "container@nix (enabled) is active after the VM's reboot, guest says $out"
	else
		result fail autostart "after the VM's reboot: container@nix ActiveState ${P[ActiveState]}, guest: $out"
		journal container@nix autostart
		systemctl list-dependencies machines.target --no-pager 2>&1 | evidence autostart
	fi
	systemctl stop container@nix
	props container@nix
	[[ ${P[Result]} == success ]] || result fail autostart-stop "systemctl stop container@nix: Result ${P[Result]}"
	journals
	finished=1
	echo done >"$R/stage"
	sync
	progress "stage 2 done; powering off"
	systemctl poweroff
	exit 0
}

case $stage in
1) stage1 ;;
2) stage2 ;;
*)
	finished=1
	progress "stage $stage: nothing to do; powering off"
	systemctl poweroff
	;;
esac
