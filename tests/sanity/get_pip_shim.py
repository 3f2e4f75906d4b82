"""Stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test builds one virtualenv per sanity test without pip, then downloads get-pip.py from
ci-files.testing.ansible.com, a host this project's machines cannot reach (only the package registries are).
ansible-test looks for a cached copy first (~/.ansible/test/cache/get_pip_<version>.py), so `make sanity`
puts this file there. It does what get-pip.py does: put pip into the running interpreter (from the stdlib's
ensurepip wheel), then install the requested packages (pip==<version>, and setuptools and wheel unless
--no-setuptools / --no-wheel) from the registry.
"""

import ensurepip
import os
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
for flag, package in (('--no-setuptools', 'setuptools'), ('--no-wheel', 'wheel')):
    if flag not in sys.argv[1:]:
        args.append(package)
env = dict(os.environ)  # ensurepip points PIP_CONFIG_FILE at /dev/null in this process: keep pip's config for the rest
ensurepip.bootstrap(upgrade=True, default_pip=True)
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install', '-q'] + args, env=env))
