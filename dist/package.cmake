# The Debian package: `cpack -G DEB` in a build tree configured with
# -DCMAKE_INSTALL_PREFIX=/usr (scripts/package does it all) makes
# nexc_<version>_<arch>.deb of exactly what `cmake --install` installs:
# /usr/bin/{nexc,nexc-node,nexc-agent}, libnexc_api.a with its headers and
# nexc.pc, the man pages, the dashboard under /usr/share/nexc/dashboard, the
# systemd unit (not enabled: dist/debian/postinst) and /etc/nexc/config.json
# (a conffile, 0600, refused until `nexc-node init`). Depends comes from
# dpkg-shlibdeps on the binaries; nats-server is recommended, since the node
# may use a server elsewhere.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME nexc)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR nexc)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "execution node controlled over NATS (Nex v0.2 compatible)")
# The first line of Description is the summary; cpack indents these lines.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "nexc-node connects to NATS, keeps a warm pool of agent processes and runs
each deployed workload under its own agent, sandboxed in namespaces, a
cgroup, a seccomp filter and its own uid. It speaks the control protocol of
Synadia's Nex v0.2 and adds verified artifacts, replay protection, signed
events, restart policies and reattach across node restarts.

This package holds the node (nexc-node, nexc-agent), the command-line client
nexc, the static client library libnexc_api with its headers and pkg-config
file, the web dashboard (static files) and a systemd unit, installed
disabled: run `nexc-node init --config /etc/nexc/config.json` first.")
set(NEXC_PACKAGE_MAINTAINER "nexc maintainers <maintainers@nexc.invalid>"
    CACHE STRING "Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${NEXC_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${NEXC_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# nexc_0.1.0_amd64.deb (a CPACK_DEBIAN_PACKAGE_RELEASE would add -N).
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS nats-server)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/dist/debian/conffiles ${PROJECT_SOURCE_DIR}/dist/debian/postinst
    ${PROJECT_SOURCE_DIR}/dist/debian/prerm ${PROJECT_SOURCE_DIR}/dist/debian/postrm)
# Maintainer scripts 0755, conffiles 0644, whatever the checkout's modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Debian ships stripped binaries (static archives keep their symbols).
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# The unit and nexc.pc name the prefix configured at build time: a tree
# configured for another prefix would make a package whose unit runs
# binaries that are not there. dist/cpack-check.cmake refuses it.
set(CPACK_NEXC_CONFIGURED_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_SOURCE_DIR}/dist/cpack-check.cmake)
include(CPack)
