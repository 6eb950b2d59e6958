# bash completion for gpumgr. It asks the installed gpumgr for its commands
# (`gpumgr --help`) and for a command's options (`gpumgr CMD --help`), so it
# follows the program and needs no edit when a command or option changes.
_gpumgr()
{
	local cur prev cmd i words_before
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}

	case $prev in
	--root) COMPREPLY=($(compgen -d -- "$cur")); return ;;
	--config|--file|-f|--input|-i|--log|--from-file)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	esac

	# the command: the first word after the global options
	cmd=
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--root|--config) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--root --config --help --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(gpumgr --help 2>/dev/null |
			    sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p') help" -- "$cur"))
		fi
		return
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(gpumgr "$cmd" --help 2>/dev/null |
		    grep -o -- '--[a-z][a-z0-9-]*' | sort -u) --help" -- "$cur"))
		return
	fi
	case $cmd in
	help) COMPREPLY=($(compgen -W "$(gpumgr --help 2>/dev/null |
		    sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')" -- "$cur")) ;;
	config) [[ $prev == config ]] && COMPREPLY=($(compgen -W "check show" -- "$cur")) ||
		COMPREPLY=($(compgen -f -- "$cur")) ;;
	batch) [[ $prev == batch ]] &&
		COMPREPLY=($(compgen -W "submit ls show wait cancel resume" -- "$cur")) ;;
	drain|undrain|reset)	# a GPU index, as `gpumgr gpus` lists them
		[[ $prev == "$cmd" ]] && COMPREPLY=($(compgen -W "$(gpumgr gpus \
		    2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+$/ { print $1 }') \
		    $([[ $cmd == reset ]] && echo all)" -- "$cur")) ;;
	*) COMPREPLY=($(compgen -f -- "$cur")) ;;
	esac
}
complete -F _gpumgr gpumgr
