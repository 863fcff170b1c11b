# Polling policy state (issue 4)

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('healthsync', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='PartnerPolicyState',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('provider', models.CharField(max_length=40)),
                ('policy', models.CharField(max_length=40)),
                ('shared', models.JSONField(blank=True, default=dict)),
                ('controlled_at', models.DateTimeField(blank=True, null=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('provider', 'policy'), name='healthsync_partner_policy_once')],
            },
        ),
        migrations.CreateModel(
            name='PollingState',
            fields=[
                ('connection', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='polling_state', serialize=False, to='healthsync.connection')),
                ('provider', models.CharField(max_length=40)),
                ('policy', models.CharField(blank=True, max_length=40)),
                ('rate', models.FloatField(blank=True, null=True)),
                ('poll_rate', models.FloatField(blank=True, null=True)),
                ('interval_seconds', models.FloatField(blank=True, null=True)),
                ('group', models.SmallIntegerField(blank=True, null=True)),
                ('priority', models.FloatField(default=0.0)),
                ('events', models.FloatField(default=0.0)),
                ('exposure_days', models.FloatField(default=0.0)),
                ('fast_events', models.FloatField(default=0.0)),
                ('fast_exposure_days', models.FloatField(default=0.0)),
                ('polls', models.PositiveIntegerField(default=0)),
                ('hits', models.PositiveIntegerField(default=0)),
                ('last_poll_at', models.DateTimeField(blank=True, null=True)),
                ('last_data_at', models.DateTimeField(blank=True, null=True)),
                ('backoff_until', models.DateTimeField(blank=True, null=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'indexes': [models.Index(fields=['provider', 'group'], name='healthsync_poll_group_idx'), models.Index(fields=['provider', 'rate'], name='healthsync_poll_rate_idx')],
            },
        ),
    ]
