# Turns the files under WEB_DIR into one C source (OUTPUT) holding the
# const table the UI module serves (src/server/ui.h): URL path, media type,
# bytes, length and a strong ETag (the first 16 hex digits of the file's
# SHA-256), and for text files a gzip copy (cmake's own libarchive, level 9,
# mtime 0 so the output is reproducible) with its own ETag, kept when it
# saves at least a tenth. Run at build time as
#   cmake -DWEB_DIR=<web> -DOUTPUT=<file.c> -P EmbedAssets.cmake
# No tool beyond cmake. A file with an unknown extension is an error, so
# nothing is ever served with a guessed media type.
cmake_minimum_required(VERSION 3.25)
if(NOT WEB_DIR OR NOT OUTPUT)
  message(FATAL_ERROR "EmbedAssets.cmake: set WEB_DIR and OUTPUT")
endif()

set(compressible html js mjs css json svg txt)
set(gzdir "${OUTPUT}.gz.d")
file(REMOVE_RECURSE "${gzdir}")
file(MAKE_DIRECTORY "${gzdir}")

# C initialiser bytes for the file `path` into variable `out`, length into `outlen`.
function(c_bytes path out outlen)
  file(READ "${path}" hex HEX)
  string(LENGTH "${hex}" hexlen)
  math(EXPR len "${hexlen} / 2")
  if(len EQUAL 0)
    set(bytes "0")
  else()
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
    # 16 bytes a line keeps the generated file readable.
    string(REPEAT "0x[0-9a-f][0-9a-f]," 16 line)
    string(REGEX REPLACE "(${line})" "\\1\n    " bytes "${bytes}")
  endif()
  set(${out} "${bytes}" PARENT_SCOPE)
  set(${outlen} ${len} PARENT_SCOPE)
endfunction()

set(types
  "html=text/html\; charset=utf-8"
  "js=text/javascript\; charset=utf-8"
  "mjs=text/javascript\; charset=utf-8"
  "css=text/css\; charset=utf-8"
  "json=application/json"
  "svg=image/svg+xml"
  "png=image/png"
  "ico=image/x-icon"
  "txt=text/plain\; charset=utf-8"
  "woff2=font/woff2")

file(GLOB_RECURSE files LIST_DIRECTORIES false RELATIVE "${WEB_DIR}" "${WEB_DIR}/*")
list(SORT files)

set(out "/* Generated at build time by cmake/EmbedAssets.cmake from web/:\n")
string(APPEND out " * do not edit. One entry per file, sorted by path. */\n")
string(APPEND out "#include <stddef.h>\n\n#include \"server/ui.h\"\n\n")
set(table "")
set(n 0)
foreach(rel IN LISTS files)
  if(rel MATCHES "(^|/)\\.")
    continue() # editor and VCS droppings (.swp, .DS_Store...)
  endif()
  get_filename_component(ext "${rel}" LAST_EXT)
  string(SUBSTRING "${ext}" 1 -1 ext)
  string(TOLOWER "${ext}" ext)
  set(ctype "")
  foreach(t IN LISTS types)
    string(FIND "${t}" "=" eq)
    string(SUBSTRING "${t}" 0 ${eq} k)
    if(k STREQUAL ext)
      math(EXPR eq "${eq} + 1")
      string(SUBSTRING "${t}" ${eq} -1 ctype)
    endif()
  endforeach()
  if(ctype STREQUAL "")
    message(FATAL_ERROR "EmbedAssets.cmake: web/${rel}: unknown file type '.${ext}' (add it to the table)")
  endif()
  file(SHA256 "${WEB_DIR}/${rel}" sum)
  string(SUBSTRING "${sum}" 0 16 etag)
  c_bytes("${WEB_DIR}/${rel}" bytes len)
  string(APPEND out "/* web/${rel} */\nstatic const unsigned char asset${n}[] = {\n    ${bytes}};\n")
  set(gz "NULL, 0, NULL")
  if(ext IN_LIST compressible AND len GREATER 0)
    set(gzfile "${gzdir}/asset${n}.gz")
    file(ARCHIVE_CREATE OUTPUT "${gzfile}" PATHS "${WEB_DIR}/${rel}" FORMAT raw
         COMPRESSION GZip COMPRESSION_LEVEL 9 MTIME 0)
    c_bytes("${gzfile}" gzbytes gzlen)
    math(EXPR gz10 "${gzlen} * 10")
    math(EXPR len9 "${len} * 9")
    if(gz10 LESS len9)
      string(APPEND out "static const unsigned char asset${n}_gz[] = {\n    ${gzbytes}};\n")
      set(gz "asset${n}_gz, ${gzlen}, \"\\\"${etag}-gz\\\"\"")
    endif()
  endif()
  string(APPEND out "\n")
  string(APPEND table "    {\"/${rel}\", \"${ctype}\", asset${n}, ${len}, \"\\\"${etag}\\\"\", ${gz}},\n")
  math(EXPR n "${n} + 1")
endforeach()
if(n EQUAL 0)
  message(FATAL_ERROR "EmbedAssets.cmake: no files under ${WEB_DIR}")
endif()
string(APPEND out "const ui_asset ui_assets[] = {\n${table}};\n")
string(APPEND out "const size_t ui_assets_count = ${n};\n")
file(WRITE "${OUTPUT}" "${out}")
file(REMOVE_RECURSE "${gzdir}")
