"""Cloud metadata, subscriptions, tenants and resource groups (what `az login` and clients list)."""

from .routing import RG, SUB, Response


class Resources:
    def __init__(self, world):
        self.world = world

    def register(self, router):
        add = router.add
        add('GET', r'/metadata/endpoints', self.metadata, 'metadata', auth=False, api_version=False)
        add('GET', r'/subscriptions', self.list_subscriptions, 'subscription.list')
        add('GET', SUB, self.get_subscription, 'subscription.get', action='Microsoft.Resources/subscriptions/read')
        add('GET', r'/tenants', self.list_tenants, 'tenant.list')
        add(
            'GET',
            SUB + r'/resourcegroups',
            self.list_groups,
            'resourcegroup.list',
            action='Microsoft.Resources/subscriptions/resourceGroups/read',
        )
        add(
            'GET',
            RG,
            self.get_group,
            'resourcegroup.get',
            action='Microsoft.Resources/subscriptions/resourceGroups/read',
        )

    def metadata(self, req):
        base = self.world.base_url
        host = base.split('://', 1)[1]
        return Response(
            200,
            {
                'name': 'ArmSim',
                'portal': f'{base}/portal',
                'resourceManager': f'{base}/',
                'authentication': {
                    'loginEndpoint': f'{base}/',
                    'audiences': ['https://management.core.windows.net/', 'https://management.azure.com/'],
                    'tenant': 'common',
                    'identityProvider': 'AAD',
                },
                'media': f'{base}/media',
                'graphAudience': 'https://graph.windows.net/',
                'graph': f'{base}/graph/',
                'microsoftGraphResourceId': f'{base}/graph/',
                'sqlManagement': f'{base}/sql/',
                'gallery': f'{base}/gallery/',
                'batch': f'{base}/batch/',
                'activeDirectoryDataLake': f'{base}/datalake/',
                'logAnalyticsResourceId': f'{base}/loganalytics',
                'appInsightsResourceId': f'{base}/appinsights',
                'appInsightsTelemetryChannelResourceId': f'{base}/appinsights-telemetry',
                'attestationResourceId': f'{base}/attestation',
                'synapseAnalyticsResourceId': f'{base}/synapse',
                'ossrDbmsResourceId': f'{base}/ossrdbms',
                'suffixes': {
                    'azureDataLakeStoreFileSystem': 'azuredatalakestore.armsim.local',
                    'acrLoginServer': 'azurecr.armsim.local',
                    'sqlServerHostname': '.database.armsim.local',
                    'azureDataLakeAnalyticsCatalogAndJob': 'azuredatalakeanalytics.armsim.local',
                    'keyVaultDns': 'vault.armsim.local',
                    'storage': 'core.armsim.local',
                    'azureFrontDoorEndpointSuffix': 'azurefd.armsim.local',
                    'storageSyncEndpointSuffix': 'afs.armsim.local',
                    'mhsmDns': 'managedhsm.armsim.local',
                    'mysqlServerEndpoint': 'mysql.armsim.local',
                    'postgresqlServerEndpoint': 'postgres.armsim.local',
                    'mariadbServerEndpoint': 'mariadb.armsim.local',
                    'synapseAnalytics': 'dev.azuresynapse.armsim.local',
                    'attestationEndpoint': 'attest.armsim.local',
                },
                'hostName': host,
            },
        )

    def list_subscriptions(self, req):
        return Response(
            200,
            {
                'value': [s.to_arm() for s in self.world.fleet.subscriptions.values()],
                'count': {'type': 'Total', 'value': len(self.world.fleet.subscriptions)},
            },
        )

    def get_subscription(self, req, sub):
        return Response(200, self.world.subscription(sub).to_arm())

    def list_tenants(self, req):
        tid = self.world.fleet.tenant_id
        return Response(
            200,
            {
                'value': [
                    {
                        'id': f'/tenants/{tid}',
                        'tenantId': tid,
                        'tenantCategory': 'Home',
                        'countryCode': 'NL',
                        'displayName': 'armsim',
                        'domains': ['armsim.local'],
                        'defaultDomain': 'armsim.local',
                        'tenantType': 'AAD',
                    }
                ]
            },
        )

    def list_groups(self, req, sub):
        return Response(200, {'value': [g.to_arm() for g in self.world.subscription(sub).groups.values()]})

    def get_group(self, req, sub, rg):
        return Response(200, self.world.group(sub, rg).to_arm())
