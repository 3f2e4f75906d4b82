"""python -m armsim --fleet FILE [--host H] [--port P] [--state-dir D] [--ready-file F] [--set k=v ...]
python -m armsim --generate N  (prints a fleet with N proxy-agent VMs)"""

import argparse
import json
import os
import signal
import sys
import tempfile

from . import certs
from .config import ConfigError, parse_sets
from .fleet import FleetError, dump, generate_fleet
from .server import App, SimServer
from .world import World


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m armsim', description='Local ARM + Entra ID simulator')
    parser.add_argument('--fleet', help='fleet file (YAML or JSON)')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--state-dir', help='where ca.pem and the server certificate go (default: a temp dir)')
    parser.add_argument('--ready-file', help='JSON written once the server listens')
    parser.add_argument('--set', action='append', default=[], metavar='KEY=VALUE', help='config override')
    parser.add_argument('--generate', type=int, metavar='N', help='print a fleet of N VMs and exit')
    args = parser.parse_args(argv)

    if args.generate is not None:
        sys.stdout.write(dump(generate_fleet(args.generate)))
        return 0
    try:
        cli_config = parse_sets(args.set)
        world = World(args.fleet, cli_config)
    except (ConfigError, FleetError, OSError) as exc:
        parser.error(str(exc))
    state_dir = args.state_dir or tempfile.mkdtemp(prefix='armsim-')
    os.makedirs(state_dir, exist_ok=True)
    ca_file, cert_file, key_file = certs.generate(state_dir, args.host)
    server = SimServer((args.host, args.port), App(world), cert_file, key_file)
    port = server.server_address[1]
    host = '127.0.0.1' if args.host in ('0.0.0.0', '') else args.host
    world.base_url = f'https://{host}:{port}'
    principal = world.fleet.principals[0]
    ready = {
        'base_url': world.base_url,
        'port': port,
        'ca_file': ca_file,
        'tenant_id': world.fleet.tenant_id,
        'client_id': principal.client_id,
        'client_secret': principal.client_secret,
        'subscription_id': world.fleet.default_subscription.id,
        'metadata_url': f'{world.base_url}/metadata/endpoints?api-version=2022-09-01',
        'pid': os.getpid(),
    }
    if args.ready_file:
        tmp = args.ready_file + '.tmp'
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as fh:
            json.dump(ready, fh)
        os.replace(tmp, args.ready_file)
    print(f'armsim listening on {world.base_url} ({len(world.fleet.machines)} VMs)', flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
