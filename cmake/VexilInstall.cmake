# `make install` (cmake --install): the vexil binary, the shared libvexil
# and libvexil-client, the public headers and their pkg-config files. The
# .pc files locate the prefix from their own directory (${pcfiledir}), so
# `cmake --install --prefix DIR` works whatever prefix was configured.
include(GNUInstallDirs)

file(RELATIVE_PATH VX_PC_UP "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
configure_file(${PROJECT_SOURCE_DIR}/cmake/vexil.pc.in
               ${PROJECT_BINARY_DIR}/vexil.pc @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/cmake/vexil-client.pc.in
               ${PROJECT_BINARY_DIR}/vexil-client.pc @ONLY)

# libvexil-client finds the libvexil installed beside it.
set_target_properties(vexil_client_shared PROPERTIES INSTALL_RPATH "$ORIGIN")

install(TARGETS vexil_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS vexil_shared vexil_client_shared
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/vexil
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/vexil.pc ${PROJECT_BINARY_DIR}/vexil-client.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The service (docs/operations.md): the systemd unit, vexil.conf and the
# sysusers.d entry of the `vexil` user, with paths from the prefix given at
# install time (cmake/VexilService.cmake), and the operations guide the
# unit's Documentation= names.
set(VX_CONFDIR "" CACHE PATH
    "Service config directory (default /etc/vexil for the /usr and /usr/local prefixes, else PREFIX/etc/vexil)")
set(VX_SYSTEMD_UNITDIR "" CACHE PATH
    "systemd unit directory (default /lib/systemd/system for /usr, else PREFIX/lib/systemd/system)")
install(FILES ${PROJECT_SOURCE_DIR}/docs/operations.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(CODE "
  set(VX_PACKAGING_DIR [[${PROJECT_SOURCE_DIR}/packaging]])
  set(VX_SERVICE_OUT [[${PROJECT_BINARY_DIR}/packaging]])
  set(VX_BINDIR_REL [[${CMAKE_INSTALL_BINDIR}]])
  set(VX_DOCDIR_REL [[${CMAKE_INSTALL_DOCDIR}]])
  set(VX_CONFDIR [[${VX_CONFDIR}]])
  set(VX_SYSTEMD_UNITDIR [[${VX_SYSTEMD_UNITDIR}]])
  include([[${PROJECT_SOURCE_DIR}/cmake/VexilService.cmake]])")
