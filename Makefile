# distcache (Rust) - build, install, test and demo entry points for C users.
#
#   make                      build everything (release)
#   make install PREFIX=dir   install libraries, headers, pkg-config files, tools
#   make check                Rust tests + the C conformance suite (+ valgrind)
#   make demo                 build, install into ./_install and show it working
#   make bench                benchmark tables (not part of check)
#   make fuzz                 every fuzz target for FUZZ_SECONDS (default 30) each
#   make soak                 soak of dc_server + dc_client (SOAK_SECONDS, SOAK_FAULTS)
#   make deb                  Debian packages into _build/deb (docs/debian.md)

PREFIX   ?= /usr/local
# Where `make install` puts things (GNU-style; DESTDIR is prepended to every
# path written, not to the paths recorded in the pkg-config files). E.g. for
# Debian: make install PREFIX=/usr INSTALL_LIBDIR=/usr/lib/x86_64-linux-gnu
# DESTDIR=debian/tmp. (LIBDIR below is the build tree's library directory.)
DESTDIR  ?=
INSTALL_LIBDIR ?= $(PREFIX)/lib
# libdir as the .pc files record it: relative to ${exec_prefix} when under PREFIX.
PC_LIBDIR = $(patsubst $(abspath $(PREFIX))/%,$${exec_prefix}/%,$(abspath $(INSTALL_LIBDIR)))
# The filter libraries find the core next to them in a private tree; a
# packaged build in the system library directory drops this.
FILTER_RPATH ?= -Wl,-rpath,'$$ORIGIN'
CARGO    ?= cargo
CC       ?= cc
BUILD    := _build
LIBDIR   := $(BUILD)/lib
CORE     := target/release/libdistcache_core.so
CORE_A   := target/release/libdistcache_core.a
SONAME_CORE := libdistcache_core.so.1
VERSION  := 1.5.1

# Public library -> symbol families it exposes (from the core's exports).
LIBS := nal distcache distcacheserver escrow
SYMS_nal             := ^(NAL_|nal_|sel_fd)
SYMS_distcache       := ^(DC_CTX_|DC_PLUG_)
SYMS_distcacheserver := ^DC_SERVER_
SYMS_escrow          := ^escrow
# What each filter library records as DT_NEEDED, as the originals did.
NEEDED_distcache       := -l:libnal.so.1
NEEDED_distcacheserver := -l:libdistcache.so.1 -l:libnal.so.1

TOOLS := $(patsubst src/bin/%.rs,%,$(wildcard src/bin/*.rs))

.PHONY: deb test-deb all core libs examples install check self-contained links lint deps test-rust test-c demo bench clean fuzz fuzz-smoke soak

all: libs examples

core:
	$(CARGO) build --release --lib --bins

# Each public library is an ELF filter on the core: its dynamic symbol table
# lists exactly its own functions (so -lnal, -ldistcache ... link as before)
# while the dynamic linker takes every definition from the one core library.
libs: core
	@mkdir -p $(LIBDIR)
	cp -f $(CORE) $(LIBDIR)/$(SONAME_CORE)
	ln -sf $(SONAME_CORE) $(LIBDIR)/libdistcache_core.so
	@for lib in $(LIBS); do \
	  case $$lib in \
	    nal) re='$(SYMS_nal)'; needed='';; \
	    distcache) re='$(SYMS_distcache)'; needed='$(NEEDED_distcache)';; \
	    distcacheserver) re='$(SYMS_distcacheserver)'; needed='$(NEEDED_distcacheserver)';; \
	    escrow) re='$(SYMS_escrow)'; needed='';; \
	  esac; \
	  nm -D --defined-only $(CORE) | awk '$$2=="T"{print $$3}' | grep -E "$$re" | sort > $(BUILD)/$$lib.syms; \
	  { echo '/* Generated: definitions come from the filtee at run time. */'; \
	    while read s; do echo "void $$s(void) {}"; done < $(BUILD)/$$lib.syms; } > $(BUILD)/$$lib-filter.c; \
	  $(CC) $(CFLAGS) -shared -fPIC -o $(LIBDIR)/lib$$lib.so.1 $(BUILD)/$$lib-filter.c \
	    -Wl,-soname,lib$$lib.so.1 -Wl,--filter,$(SONAME_CORE) $(FILTER_RPATH) \
	    -L$(LIBDIR) $(LDFLAGS) -Wl,--no-as-needed $$needed || exit 1; \
	  ln -sf lib$$lib.so.1 $(LIBDIR)/lib$$lib.so; \
	  cp -f $(CORE_A) $(LIBDIR)/lib$$lib.a; \
	  echo "lib$$lib.so.1: $$(wc -l < $(BUILD)/$$lib.syms) symbols"; \
	done

examples: libs
	@if [ -f examples-c/Makefile ]; then $(MAKE) -C examples-c INCDIR=$(CURDIR)/include LIBDIR=$(CURDIR)/$(LIBDIR); fi

install: all
	install -d $(DESTDIR)$(INSTALL_LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include/libnal $(DESTDIR)$(PREFIX)/include/distcache \
	  $(DESTDIR)$(PREFIX)/include/libdistcache $(DESTDIR)$(PREFIX)/include/libdistcacheserver $(DESTDIR)$(PREFIX)/bin
	cp -f $(LIBDIR)/$(SONAME_CORE) $(DESTDIR)$(INSTALL_LIBDIR)/
	ln -sf $(SONAME_CORE) $(DESTDIR)$(INSTALL_LIBDIR)/libdistcache_core.so
	@for lib in $(LIBS); do \
	  cp -f $(LIBDIR)/lib$$lib.so.1 $(LIBDIR)/lib$$lib.a $(DESTDIR)$(INSTALL_LIBDIR)/ && \
	  ln -sf lib$$lib.so.1 $(DESTDIR)$(INSTALL_LIBDIR)/lib$$lib.so && \
	  sed -e 's|@PREFIX@|$(abspath $(PREFIX))|g' -e 's|@LIBDIR@|$(PC_LIBDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    pkgconfig/$$lib.pc.in > $(DESTDIR)$(INSTALL_LIBDIR)/pkgconfig/$$(sed -n 's/^# file: //p' pkgconfig/$$lib.pc.in) || exit 1; \
	done
	cp -f include/libnal/*.h $(DESTDIR)$(PREFIX)/include/libnal/
	cp -f include/distcache/*.h $(DESTDIR)$(PREFIX)/include/distcache/
	cp -f include/libdistcache/*.h $(DESTDIR)$(PREFIX)/include/libdistcache/
	cp -f include/libdistcacheserver/*.h $(DESTDIR)$(PREFIX)/include/libdistcacheserver/
	cp -f include/escrow.h $(DESTDIR)$(PREFIX)/include/
	@for t in $(TOOLS); do cp -f target/release/$$t $(DESTDIR)$(PREFIX)/bin/ || exit 1; done
	@if [ -d man ]; then install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8; \
	  cp -f man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/ 2>/dev/null; cp -f man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/ 2>/dev/null; true; fi

# Seconds per fuzz target in make check (after replaying every committed
# corpus and regression input once).
FUZZ_SMOKE_SECONDS ?= 30

check: deps self-contained links lint test-rust fuzz-smoke test-c test-deb

# Formatting and clippy's lints, warnings included, over the library, tools and tests.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets -- -D warnings

self-contained:
	sh tools/check-self-contained.sh

links:
	sh tools/check-links.sh

deps:
	sh tools/deps.sh

test-rust:
	$(CARGO) test --release

test-c: all
	rm -rf $(BUILD)/check-prefix
	$(MAKE) install PREFIX=$(CURDIR)/$(BUILD)/check-prefix
	sh capi-tests/run.sh $(CURDIR)/$(BUILD)/check-prefix

demo:
	sh tools/demo.sh

bench:
	sh tools/bench.sh

fuzz:
	sh tools/fuzz.sh run

fuzz-smoke:
	FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) sh tools/fuzz.sh smoke

soak:
	sh tools/soak.sh

deb:
	sh tools/deps.sh deb
	sh tools/build-deb.sh

# Builds, lints, installs, uses, reinstalls and purges the packages on this
# machine (root); last in check, so the rest never sees them installed.
test-deb: all
	sh tools/deps.sh deb
	sh tools/test-deb.sh

clean:
	$(CARGO) clean
	rm -rf $(BUILD) _install
