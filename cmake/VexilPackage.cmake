# `make deb` (scripts/deb.sh): a Debian package of everything `make install`
# installs, with the maintainer scripts of packaging/debian/ (the `vexil`
# user, /var/lib/vexil, the first admin token, the service; data kept on
# upgrade and removal, removed on purge). Built by CPack's DEB generator
# from a build configured with CMAKE_INSTALL_PREFIX=/usr, which the
# maintainer scripts assume (/usr/bin/vexil, /etc/vexil). The Debian
# revision is CPACK_DEBIAN_PACKAGE_RELEASE (`cpack -D ...=2` for a rebuild).
set(VX_DEB_MAINTAINER "Vexil maintainers <vexil@localhost>" CACHE STRING
    "Maintainer field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME vexil)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "self-hosted feature-flag and progressive-delivery server")
# The extended description; CPack puts the summary above it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Vexil serves feature flags to Unleash SDKs unchanged and to OpenFeature
SDKs through OFREP, with an admin API, a web console, guarded rollouts and
an audit log, on SQLite or PostgreSQL. This package holds the vexil binary
and its systemd service (the vexil user, /etc/vexil/vexil.conf,
/var/lib/vexil), and libvexil and libvexil-client with their headers and
pkg-config files.")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${VX_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# The libraries' Depends from dpkg-shlibdeps (dpkg-dev), plus adduser for
# postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/debian/postinst"
    "${PROJECT_SOURCE_DIR}/packaging/debian/prerm"
    "${PROJECT_SOURCE_DIR}/packaging/debian/postrm"
    "${PROJECT_SOURCE_DIR}/packaging/debian/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# Install with DESTDIR and the configured prefix, so the service files
# (cmake/VexilService.cmake) see /usr and put the unit and vexil.conf under
# /lib/systemd/system and /etc/vexil.
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
include(CPack)
