# SPDX-License-Identifier: GPL-2.0
#
# Project driver. Everything generated goes to build/.
#
#   make demo            boot the test kernel and show the offload working
#   make bench           kernel offload vs userspace crypto on a non-debug kernel:
#                        build/bench/{results.csv,summary.txt,*.png}
#                        (BENCH_REPS=5 BENCH_MS=250 BENCH_CONNS=1,1000,100000)
#   make check           static checks, build, boot, KUnit and kselftests
#   make manifest        rewrite tests/manifest, the results make check expects
#                        (after adding, removing or renaming a test)
#   make fuzz            boot the test kernel, run quic_fuzz for FUZZ_CALLS calls
#                        (default 1000000; FUZZ_THREADS, FUZZ_SEED, FUZZ_ARGS), count kernel reports
#   make coverage        build a gcov kernel (build/obj-cov), run make check's tests in it,
#                        print line and branch coverage of net/quic/ and udp_ulp.c
#                        with the lines never executed: build/coverage/summary.txt
#   make vm CMD='...'    boot the test kernel and run CMD as root (no CMD: a shell)
#   make tree            assemble build/linux (base + patches/ as commits)
#   make kernel          build the debug test kernel, modules and uAPI headers
#   make selftests       build the kselftests against the installed headers, and
#                        install them the standard way in build/kselftest/kselftest_install
#   make kselftest       boot the test kernel and run that install's run_kselftest.sh
#                        (every program must end "ok")
#   make series          the patch series with a cover letter, in build/series
#   make bisect-check    build every commit of the series with QUIC=m, =y and =n (slow;
#                        RANGE=series~2..series for only some commits)
#
# ACCEL=kvm uses KVM instead of TCG, where a nested guest really boots.

SHELL := /bin/bash
# build/, or a directory in ~/.cache for a clone whose path has a space or a
# colon, which Kbuild refuses (scripts/build-dir); every script builds there.
BUILD ?= $(shell scripts/build-dir)
export BUILD
SELFTESTS := $(BUILD)/linux/tools/testing/selftests/net/quic

.PHONY: all deps tree kernel selftests kselftest vm demo bench fuzz coverage check manifest series bisect-check clean

all: kernel

deps:
	@scripts/install-deps

tree: deps
	@scripts/assemble-tree

kernel: tree
	@scripts/build-kernel debug

selftests: kernel
	@rm -rf "$(BUILD)/selftests" && mkdir -p "$(BUILD)/selftests/net/quic"
	@$(MAKE) -s -C "$(SELFTESTS)" OUTPUT="$(BUILD)/selftests/net/quic" \
		KHDR_INCLUDES="-isystem $(BUILD)/usr/include"
	@find "$(BUILD)/selftests" -type f ! -perm -u+x -delete
	@rm -rf "$(BUILD)/kselftest"
	@$(MAKE) -s -C "$(BUILD)/linux/tools/testing/selftests" O="$(BUILD)" TARGETS=net/quic install

# The standard run of netdev's CI and kernelci, in the booted debug kernel.
KSELFTEST := $(BUILD)/kselftest/kselftest_install
kselftest: selftests
	@scripts/vm-run -n kselftest -t 3600 -- \
		'cd "$$QUICVM_BUILD/kselftest/kselftest_install" && ./run_kselftest.sh | tee "$$QUICVM_BUILD/logs/kselftest.tap"'
	@bad=0; for t in $$(sed 's|^net/quic:||' "$(KSELFTEST)/kselftest-list.txt"); do \
		grep -Eq "^ok [0-9]+ selftests: net/quic: $$t$$" "$(BUILD)/logs/kselftest.tap" || \
			{ echo "kselftest: $$t did not end ok"; bad=1; }; \
	done; exit $$bad

vm: kernel
	@scripts/vm-run -n vm $(if $(CMD),-- "$$CMD")

demo: kernel
	@scripts/build-userspace
	@scripts/vm-run -n demo -- demo/run

bench: tree
	@ACCEL=$(ACCEL) scripts/bench

fuzz: kernel
	@scripts/build-userspace
	@FUZZ_CALLS=$(FUZZ_CALLS) FUZZ_THREADS=$(FUZZ_THREADS) FUZZ_SEED=$(FUZZ_SEED) \
		FUZZ_ARGS="$(FUZZ_ARGS)" fuzz/run-vm

# The selftests (and the uAPI headers the tools build against) come from the
# debug kernel's build; the gcov kernel is built from the same tree.
coverage: selftests
	@scripts/coverage

check:
	@scripts/check

manifest:
	@scripts/manifest-update

series: tree
	@scripts/make-series

bisect-check: tree
	@scripts/bisect-check $(RANGE)

clean:
	rm -rf "$(BUILD)"/obj "$(BUILD)"/obj-* "$(BUILD)"/selftests "$(BUILD)"/kselftest \
		"$(BUILD)"/logs "$(BUILD)"/vm "$(BUILD)"/coverage
