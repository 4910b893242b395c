# Run by `cmake --install` (install(CODE) in cmake/VexilInstall.cmake), so
# CMAKE_INSTALL_PREFIX is the prefix given at install time: installs the
# service files of docs/operations.md with paths that follow it.
#   prefix /usr        unit /lib/systemd/system, config /etc/vexil,
#                      sysusers.d entry /usr/lib/sysusers.d (the Debian package)
#   prefix /usr/local  unit /usr/local/lib/systemd/system, config /etc/vexil,
#                      /usr/local/lib/sysusers.d (all searched by systemd)
#   any other prefix P P/lib/systemd/system, P/etc/vexil, P/lib/sysusers.d
# VX_CONFDIR and VX_SYSTEMD_UNITDIR (configure-time cache variables), when
# set, replace the first two. The data directory is always /var/lib/vexil
# (the unit's StateDirectory). An existing vexil.conf is kept, never
# overwritten. Inputs: VX_PACKAGING_DIR, VX_SERVICE_OUT (a scratch folder),
# VX_BINDIR_REL, VX_DOCDIR_REL, VX_CONFDIR, VX_SYSTEMD_UNITDIR.
string(REGEX REPLACE "(.)/+$" "\\1" _vx_prefix "${CMAKE_INSTALL_PREFIX}")
if(_vx_prefix STREQUAL "/usr")
  set(_vx_unitdir /lib/systemd/system)
  set(_vx_confdir /etc/vexil)
  set(_vx_sysusersdir /usr/lib/sysusers.d)
elseif(_vx_prefix STREQUAL "/usr/local")
  set(_vx_unitdir /usr/local/lib/systemd/system)
  set(_vx_confdir /etc/vexil)
  set(_vx_sysusersdir /usr/local/lib/sysusers.d)
else()
  set(_vx_unitdir "${_vx_prefix}/lib/systemd/system")
  set(_vx_confdir "${_vx_prefix}/etc/vexil")
  set(_vx_sysusersdir "${_vx_prefix}/lib/sysusers.d")
endif()
if(VX_CONFDIR)
  set(_vx_confdir "${VX_CONFDIR}")
endif()
if(VX_SYSTEMD_UNITDIR)
  set(_vx_unitdir "${VX_SYSTEMD_UNITDIR}")
endif()

# The @VARIABLES@ of packaging/*.in.
set(VX_BINDIR "${_vx_prefix}/${VX_BINDIR_REL}")
set(VX_DOCDIR "${_vx_prefix}/${VX_DOCDIR_REL}")
set(VX_CONFDIR "${_vx_confdir}")
configure_file("${VX_PACKAGING_DIR}/vexil.service.in" "${VX_SERVICE_OUT}/vexil.service" @ONLY)
configure_file("${VX_PACKAGING_DIR}/vexil.conf.in" "${VX_SERVICE_OUT}/vexil.conf" @ONLY)
configure_file("${VX_PACKAGING_DIR}/vexil.sysusers" "${VX_SERVICE_OUT}/sysusers/vexil.conf" COPYONLY)

# file(INSTALL) puts $DESTDIR in front and records each file in the
# install manifest, like the install() rules.
file(INSTALL DESTINATION "${_vx_unitdir}" TYPE FILE FILES "${VX_SERVICE_OUT}/vexil.service")
file(INSTALL DESTINATION "${_vx_sysusersdir}" TYPE FILE FILES "${VX_SERVICE_OUT}/sysusers/vexil.conf")
if(EXISTS "$ENV{DESTDIR}${_vx_confdir}/vexil.conf")
  message(STATUS "Keeping: $ENV{DESTDIR}${_vx_confdir}/vexil.conf "
                 "(the new default is ${VX_SERVICE_OUT}/vexil.conf)")
else()
  file(INSTALL DESTINATION "${_vx_confdir}" TYPE FILE FILES "${VX_SERVICE_OUT}/vexil.conf")
endif()
