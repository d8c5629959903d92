#!/usr/bin/env bash
# The Debian packages that `make test` and the README's blocks need beyond a new machine's image, installed when
# missing: by apt-get as root (CI here runs as root), else one line saying what to install.
#   wordnet-base: the WordNet database under /usr/share/wordnet (`lens-vdb wordnet-pairs`, a README block and
#                 tests/unit/test_wordnet.py)
#   perl-doc:     the Perl FAQ's POD under /usr/share/perl/<version>/pod, the second evaluation set
#                 (lens_vdb.eval.perl_faq_corpus, `lens-vdb eval --dataset perl-faq`, bench/default_gates.py and
#                 tests/unit/test_eval_perlfaq.py); on Debian 12 it upgrades perl to its own version
set -euo pipefail
declare -A NEEDS=([wordnet-base]=/usr/share/wordnet/data.noun [perl-doc]="/usr/share/perl/*/pod/perlfaq1.pod")
missing=()
for package in "${!NEEDS[@]}"; do
    compgen -G "${NEEDS[$package]}" >/dev/null || missing+=("$package")  # a path, or a glob over versions
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "make test needs these Debian packages: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
