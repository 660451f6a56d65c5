# Read by cpack (CPACK_PROJECT_CONFIG_FILE, dist/package.cmake): refuse to
# package a tree whose unit and nexc.pc name another prefix than the package.
if(CPACK_GENERATOR STREQUAL "DEB"
   AND NOT CPACK_NEXC_CONFIGURED_PREFIX STREQUAL CPACK_PACKAGING_INSTALL_PREFIX)
  message(FATAL_ERROR
          "this build tree is configured for ${CPACK_NEXC_CONFIGURED_PREFIX}, the package installs "
          "under ${CPACK_PACKAGING_INSTALL_PREFIX}: configure with "
          "-DCMAKE_INSTALL_PREFIX=${CPACK_PACKAGING_INSTALL_PREFIX}, or run scripts/package")
endif()
