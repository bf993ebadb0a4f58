# SPDX-License-Identifier: GPL-2.0
#
# Project driver. Everything generated goes to build/.
#
#   make demo            boot the test kernel and show the offload working
#   make check           static checks, build, boot, KUnit and kselftests
#   make vm CMD='...'    boot the test kernel and run CMD as root (no CMD: a shell)
#   make tree            assemble build/linux (base + patches/ as commits)
#   make kernel          build the debug test kernel, modules and uAPI headers
#   make selftests       build the kselftests against the installed headers
#   make series          the patch series with a cover letter, in build/series
#   make bisect-check    build every commit of the series with QUIC=m, =y and =n (slow;
#                        RANGE=series~2..series for only some commits)
#
# ACCEL=kvm uses KVM instead of TCG, where a nested guest really boots.

SHELL := /bin/bash
BUILD := $(CURDIR)/build
SELFTESTS := $(BUILD)/linux/tools/testing/selftests/net/quic

.PHONY: all deps tree kernel selftests vm demo check series bisect-check clean

all: kernel

deps:
	@scripts/install-deps

tree: deps
	@scripts/assemble-tree

kernel: tree
	@scripts/build-kernel debug

selftests: kernel
	@rm -rf $(BUILD)/selftests && mkdir -p $(BUILD)/selftests/net/quic
	@$(MAKE) -s -C $(SELFTESTS) OUTPUT=$(BUILD)/selftests/net/quic \
		KHDR_INCLUDES="-isystem $(BUILD)/usr/include"
	@find $(BUILD)/selftests -type f ! -perm -u+x -delete

vm: kernel
	@scripts/vm-run -n vm $(if $(CMD),-- "$$CMD")

demo: kernel
	@scripts/build-userspace
	@scripts/vm-run -n demo -- demo/run

check:
	@scripts/check

series: tree
	@scripts/make-series

bisect-check: tree
	@scripts/bisect-check $(RANGE)

clean:
	rm -rf $(BUILD)/obj $(BUILD)/obj-* $(BUILD)/selftests $(BUILD)/logs $(BUILD)/vm
