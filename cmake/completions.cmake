# Writes the completion scripts snap makes from its own command tree:
#   cmake -DSNAP=<snap binary> -DOUT=<dir> -P completions.cmake
file(MAKE_DIRECTORY ${OUT})
foreach(pair "bash;snap.bash" "zsh;_snap" "fish;snap.fish")
  list(GET pair 0 shell)
  list(GET pair 1 name)
  execute_process(COMMAND ${SNAP} completion ${shell}
                  OUTPUT_FILE ${OUT}/${name} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "snap completion ${shell} failed: ${rc}")
  endif()
endforeach()
