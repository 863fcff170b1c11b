# Push: webhook notifications, subscriptions, reconciliation observations (issue 3)

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('healthsync', '0002_polling'),
    ]

    operations = [
        migrations.CreateModel(
            name='PushObservation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('provider', models.CharField(max_length=40)),
                ('endpoint', models.CharField(max_length=60)),
                ('records', models.PositiveIntegerField(default=0)),
                ('missed', models.PositiveIntegerField(default=0)),
                ('at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('connection', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='healthsync.connection')),
                ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='healthsync.syncrun')),
            ],
            options={
                'indexes': [models.Index(fields=['provider', 'at'], name='hs_push_obs_provider')],
            },
        ),
        migrations.CreateModel(
            name='WebhookEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('provider', models.CharField(max_length=40)),
                ('digest', models.CharField(max_length=64)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('done', 'Done'), ('revoked', 'Revoked')], default='pending', max_length=16)),
                ('kind', models.CharField(blank=True, max_length=60)),
                ('action', models.CharField(blank=True, max_length=20)),
                ('object_id', models.CharField(blank=True, max_length=200)),
                ('endpoints', models.JSONField(blank=True, default=list)),
                ('window_start', models.DateTimeField(blank=True, null=True)),
                ('window_end', models.DateTimeField(blank=True, null=True)),
                ('payload', models.JSONField(blank=True, default=dict)),
                ('received_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('deliveries', models.PositiveIntegerField(default=1)),
                ('processed_at', models.DateTimeField(blank=True, null=True)),
                ('connection', models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, related_name='webhook_events', to='healthsync.connection')),
                ('run', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='healthsync.syncrun')),
            ],
            options={
                'indexes': [models.Index(fields=['connection', 'status'], name='hs_webhook_pending')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('status', 'pending')), fields=('provider', 'digest'), name='healthsync_webhook_pending_once')],
            },
        ),
        migrations.CreateModel(
            name='WebhookSubscription',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('provider', models.CharField(max_length=40)),
                ('kind', models.CharField(blank=True, max_length=80)),
                ('partner_id', models.CharField(blank=True, max_length=200)),
                ('callback_url', models.URLField(max_length=500)),
                ('status', models.CharField(choices=[('active', 'Active'), ('failed', 'Failed'), ('removed', 'Removed')], default='active', max_length=16)),
                ('expires_at', models.DateTimeField(blank=True, null=True)),
                ('last_error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('renewed_at', models.DateTimeField(blank=True, null=True)),
                ('connection', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='webhook_subscriptions', to='healthsync.connection')),
            ],
            options={
                'indexes': [models.Index(fields=['provider', 'status'], name='hs_webhook_sub_status')],
            },
        ),
    ]
